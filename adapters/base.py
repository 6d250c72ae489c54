"""The interface every framework adapter implements.

An adapter draws layers through its framework's own layer classes and initializers and returns
the weights in one canonical layout, (out, in, *kernel), with the fans the framework used and
the reference distribution the framework documents for that initializer. Adapter modules import
their framework only inside `draw`, so importing `adapters` stays cheap and framework-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

# The layout every adapter returns weights in: PyTorch's (out_features, in_features, *kernel).
CANONICAL_LAYOUT = "(out, in, *kernel)"


@dataclass(frozen=True)
class InitializerInfo:
    """One initializer an adapter offers: what it calls and which arguments it passes on."""

    call: str
    arguments: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class DrawRequest:
    """A draw order: `layers` fresh initialisations of one layer tensor, seeded by `seed`."""

    initializer: str
    arguments: Mapping[str, Any]
    layer: str
    layer_arguments: Mapping[str, int]
    layers: int
    seed: int
    backend: str | None = None
    tensor: str = "kernel"
    dtype: str = "float32"


@dataclass
class Draw:
    """The weights of `layers` initialisations, stacked on a leading axis, canonical layout."""

    weights: np.ndarray
    # None where the framework defines no fans (1-D biases); fractional for custom axes.
    fan_in: int | float | None
    fan_out: int | float | None
    reference: dict[str, Any]
    native_shape: tuple[int, ...]
    layer_class: str
    initializer_call: str
    versions: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
            "reference": self.reference,
            "native_shape": list(self.native_shape),
            "canonical_shape": list(self.weights.shape[1:]),
            "layer_class": self.layer_class,
            "initializer_call": self.initializer_call,
            "versions": self.versions,
        }


class Adapter(Protocol):
    """A framework adapter: a static catalogue plus a `draw` that imports the framework."""

    framework: str
    # Backends the side string may name after a slash; None is the framework's default.
    backends: tuple[str | None, ...]
    # Distribution names that must be importable, per backend, for the side to run.
    packages: Mapping[str | None, tuple[str, ...]]
    initializers: Mapping[str, InitializerInfo]
    # Arguments whose values are a fixed set, and arguments that must be numbers; both are
    # checked before any worker starts.
    choices: Mapping[str, tuple[str, ...]]
    numeric: tuple[str, ...]

    def draw(self, request: DrawRequest) -> Draw: ...


class NoCounterpartError(LookupError):
    """The framework has no layer, tensor or dtype that matches the request."""


class RepeatedDrawError(RuntimeError):
    """An initializer returned the same values for two successive layers."""


def require_fresh(previous: np.ndarray | None, current: np.ndarray, where: str) -> None:
    """Raise when a draw repeats the previous layer, as a reused integer seed makes it do."""
    if previous is not None and np.array_equal(previous, current):
        if current.size and np.all(current == current.flat[0]):
            raise RepeatedDrawError(
                f"{where} set every weight to {current.flat[0]:g} in two successive layers; "
                "nothing random was drawn (a zero std or gain?)"
            )
        raise RepeatedDrawError(
            f"{where} returned identical weights for two successive layers; "
            "the initializer is reusing its seed"
        )
