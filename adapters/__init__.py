"""Framework adapters, one module per framework, behind the `adapters.base.Adapter` interface.

Importing this package imports no framework: each adapter module keeps its static catalogue at
module level and imports its framework inside `draw`, which runs in a worker process.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from adapters.base import Adapter, Draw, DrawRequest, InitializerInfo

__all__ = ["Adapter", "Draw", "DrawRequest", "InitializerInfo", "adapter_for", "FRAMEWORKS"]

# Framework name in a side string -> adapter module.
FRAMEWORKS = {
    "torch": "adapters.pytorch",
    "keras": "adapters.keras3",
    "jax": "adapters.flax_nnx",
}


def adapter_for(framework: str) -> ModuleType:
    """Return the adapter module for `framework`, naming the valid choices when it is unknown."""
    try:
        return importlib.import_module(FRAMEWORKS[framework])
    except KeyError:
        raise ValueError(
            f"unknown framework {framework!r}; valid choices: {', '.join(sorted(FRAMEWORKS))}"
        ) from None


def missing_packages(framework: str, backend: str | None) -> list[str]:
    """List the packages a side needs that are not installed, without importing any of them."""
    needed = adapter_for(framework).packages[backend]
    return [name for name in needed if importlib.util.find_spec(name) is None]
