"""init-harness: compare how deep-learning frameworks initialise weights, with evidence.

Importing this package imports no framework; frameworks run in worker processes.
"""

__version__ = "0.1.0"
