"""The layers the harness compares, their weight tensors, and one canonical layout for each.

Every framework stores a layer's weights in its own layout. Adapters return each tensor in the
canonical layout below, which is PyTorch's, so that element [i, j, ...] means the same weight on
every side. Gate order for recurrent kernels is PyTorch's too: LSTM (input, forget, cell, output)
and GRU (reset, update, new).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

DTYPES = ("float32", "float16", "bfloat16")
DEFAULT_DTYPE = "float32"


@dataclass(frozen=True)
class LayerKind:
    """A layer type: its size arguments and its tensors, each with a canonical shape."""

    required: tuple[str, ...]
    # tensor name -> (canonical layout in words, canonical shape from the size arguments)
    tensors: dict[str, tuple[str, Callable[[dict[str, int]], tuple[int, ...]]]]
    optional: dict[str, int] = field(default_factory=dict)

    @property
    def default_tensor(self) -> str:
        return next(iter(self.tensors))

    def arguments(self, given: dict[str, int]) -> dict[str, int]:
        """Return the given size arguments with the optional ones filled in."""
        return {**self.optional, **given}


def _conv(dimensions: int) -> LayerKind:
    def kernel(a):
        return (a["out"], a["in"] // a["groups"], *(a["kernel"],) * dimensions)

    return LayerKind(
        required=("in", "out", "kernel"),
        optional={"groups": 1},
        tensors={
            "kernel": ("(out, in / groups, *kernel)", kernel),
            "bias": ("(out,)", lambda a: (a["out"],)),
        },
    )


def _conv_transpose(dimensions: int) -> LayerKind:
    def kernel(a):
        return (a["in"], a["out"] // a["groups"], *(a["kernel"],) * dimensions)

    return LayerKind(
        required=("in", "out", "kernel"),
        optional={"groups": 1},
        tensors={
            "kernel": ("(in, out / groups, *kernel)", kernel),
            "bias": ("(out,)", lambda a: (a["out"],)),
        },
    )


def _recurrent(gates: int) -> LayerKind:
    return LayerKind(
        required=("in", "hidden"),
        tensors={
            "kernel": (f"({gates} * hidden, in)", lambda a: (gates * a["hidden"], a["in"])),
            "recurrent_kernel": (
                f"({gates} * hidden, hidden)",
                lambda a: (gates * a["hidden"], a["hidden"]),
            ),
            "bias": (f"({gates} * hidden,)", lambda a: (gates * a["hidden"],)),
        },
    )


def _projection(a):
    return (a["dim"], a["dim"])


LAYERS: dict[str, LayerKind] = {
    "dense": LayerKind(
        required=("in", "out"),
        tensors={
            "kernel": ("(out, in)", lambda a: (a["out"], a["in"])),
            "bias": ("(out,)", lambda a: (a["out"],)),
        },
    ),
    "conv1d": _conv(1),
    "conv2d": _conv(2),
    "conv3d": _conv(3),
    "conv_transpose1d": _conv_transpose(1),
    "conv_transpose2d": _conv_transpose(2),
    "depthwise_conv2d": LayerKind(
        required=("in", "multiplier", "kernel"),
        tensors={
            "kernel": (
                "(in * multiplier, 1, kernel, kernel)",
                lambda a: (a["in"] * a["multiplier"], 1, a["kernel"], a["kernel"]),
            ),
            "bias": ("(in * multiplier,)", lambda a: (a["in"] * a["multiplier"],)),
        },
    ),
    "embedding": LayerKind(
        required=("num", "dim"),
        tensors={"embeddings": ("(num, dim)", lambda a: (a["num"], a["dim"]))},
    ),
    "lstm": _recurrent(4),
    "gru": _recurrent(3),
    "attention": LayerKind(
        required=("dim", "heads"),
        tensors={
            "query": ("(dim, dim) as (out, in)", _projection),
            "key": ("(dim, dim) as (out, in)", _projection),
            "value": ("(dim, dim) as (out, in)", _projection),
            "output": ("(dim, dim) as (out, in)", _projection),
        },
    ),
}


def canonical_shape(kind: str, tensor: str, arguments: dict[str, int]) -> tuple[int, ...]:
    return LAYERS[kind].tensors[tensor][1](LAYERS[kind].arguments(arguments))


def tensor_size(kind: str, tensor: str, arguments: dict[str, int]) -> int:
    return math.prod(canonical_shape(kind, tensor, arguments))


def check_arguments(kind: str, arguments: dict[str, int]) -> str | None:
    """Return why the size arguments cannot build this layer, or None when they can."""
    full = LAYERS[kind].arguments(arguments)
    groups = full.get("groups", 1)
    if "groups" in full and (full["in"] % groups or full["out"] % groups):
        return f"in={full['in']} and out={full['out']} must both be divisible by groups={groups}"
    if kind == "attention" and full["dim"] % full["heads"]:
        return f"dim={full['dim']} must be divisible by heads={full['heads']}"
    return None


# One cross-framework name map: common name -> each framework's own name, or None where the
# framework has no counterpart. Beware "normal": Keras and JAX variance-scaling initializers
# named *_normal draw a truncated normal, PyTorch's kaiming/xavier *_normal_ an untruncated one.
INITIALIZER_NAMES: dict[str, dict[str, str | None]] = {
    "he_normal": {"torch": "kaiming_normal", "keras": "he_normal", "jax": "he_normal"},
    "he_uniform": {"torch": "kaiming_uniform", "keras": "he_uniform", "jax": "he_uniform"},
    "glorot_normal": {"torch": "xavier_normal", "keras": "glorot_normal", "jax": "glorot_normal"},
    "glorot_uniform": {
        "torch": "xavier_uniform",
        "keras": "glorot_uniform",
        "jax": "glorot_uniform",
    },
    "lecun_normal": {"torch": None, "keras": "lecun_normal", "jax": "lecun_normal"},
    "lecun_uniform": {"torch": None, "keras": "lecun_uniform", "jax": "lecun_uniform"},
    "variance_scaling": {"torch": None, "keras": "variance_scaling", "jax": "variance_scaling"},
    "normal": {"torch": "normal", "keras": "random_normal", "jax": "normal"},
    "truncated_normal": {
        "torch": "trunc_normal",
        "keras": "truncated_normal",
        "jax": "truncated_normal",
    },
    "uniform": {"torch": "uniform", "keras": "random_uniform", "jax": "uniform"},
    "orthogonal": {"torch": "orthogonal", "keras": "orthogonal", "jax": "orthogonal"},
    "constant": {"torch": "constant", "keras": "constant", "jax": "constant"},
    "zeros": {"torch": "zeros", "keras": "zeros", "jax": "zeros"},
    "ones": {"torch": "ones", "keras": "ones", "jax": "ones"},
    "default": {"torch": "default", "keras": "default", "jax": "default"},
}

# Variance-scaling initializers: the ones the fan audit covers.
VARIANCE_SCALING = (
    "he_normal",
    "he_uniform",
    "glorot_normal",
    "glorot_uniform",
    "lecun_normal",
    "lecun_uniform",
)


def common_name(framework: str, name: str) -> str | None:
    """Return the common name for `name`, a common name or any framework's own name."""
    if name in INITIALIZER_NAMES:
        return name
    for common, names in INITIALIZER_NAMES.items():
        if name in names.values():
            return common
    return None


def resolve_initializer(framework: str, name: str) -> tuple[str | None, str | None]:
    """Map a name to (this framework's own name or None, the common name or None).

    A framework's own name always resolves to itself. A name known elsewhere but without a
    counterpart here gives (None, common name); a name known nowhere gives (None, None).
    """
    common = common_name(framework, name)
    own = INITIALIZER_NAMES.get(common, {}).get(framework) if common else None
    return own, common
