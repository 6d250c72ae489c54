"""Side and layer specifications: parsing and validation before anything runs.

A side is ``FRAMEWORK[/BACKEND]:INITIALIZER[(key=value,...)][@DTYPE]``, for example
``torch:kaiming_normal(mode=fan_out,nonlinearity=relu)``, ``keras/jax:he_normal`` or
``torch:kaiming_normal@bfloat16``. A layer is ``KIND(key=value,...)[.TENSOR]``, for example
``dense(in=16,out=16)`` (its kernel) or ``lstm(in=8,hidden=16).recurrent_kernel``. Every error is
a `SpecError` whose one-line message names the bad value and the valid choices.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adapters import FRAMEWORKS, adapter_for
from adapters.catalogue import (
    DEFAULT_DTYPE,
    DTYPES,
    INITIALIZER_NAMES,
    LAYERS,
    check_arguments,
    resolve_initializer,
    tensor_size,
)

# ``KIND(...)`` with an optional ``.TENSOR`` suffix; a tensor name starts with a letter, so a
# decimal point inside the arguments is never taken for it.
_LAYER_TENSOR = re.compile(r"\s*(.+?)(?:\.([A-Za-z_]\w*))?\s*", re.DOTALL)
_CALL = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


class SpecError(ValueError):
    """A side, layer, suite or option that cannot be run, with a one-line explanation."""


def _parse_value(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def _parse_call(text: str, what: str) -> tuple[str, dict[str, Any]]:
    """Split ``name(key=value,...)`` into the name and an ordered dict of parsed values."""
    match = _CALL.match(text)
    if not match:
        raise SpecError(f"invalid {what} {text!r}; expected NAME or NAME(key=value,...)")
    name, body = match.group(1), match.group(2)
    arguments: dict[str, Any] = {}
    if body is not None and body.strip():
        for item in body.split(","):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or not key or not value.strip():
                raise SpecError(
                    f"invalid argument {item.strip()!r} in {what} {text!r}; expected key=value"
                )
            if key in arguments:
                raise SpecError(f"argument {key!r} given twice in {what} {text!r}")
            arguments[key] = _parse_value(value)
    return name, arguments


@dataclass(frozen=True)
class LayerSpec:
    kind: str
    arguments: dict[str, int]
    text: str
    tensor: str = "kernel"

    @property
    def weights_per_layer(self) -> int:
        """Number of elements of the compared tensor in one layer (the same in every framework)."""
        return tensor_size(self.kind, self.tensor, self.arguments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.text,
            "kind": self.kind,
            "arguments": dict(self.arguments),
            "tensor": self.tensor,
        }


def parse_layer(text: str) -> LayerSpec:
    match = _LAYER_TENSOR.fullmatch(text)
    call, tensor = (match.group(1), match.group(2)) if match else (text, None)
    kind, arguments = _parse_call(call, "layer")
    if kind not in LAYERS:
        raise SpecError(f"unknown layer {kind!r}; valid choices: {', '.join(LAYERS)}")
    layer_kind = LAYERS[kind]
    tensor = tensor or layer_kind.default_tensor
    if tensor not in layer_kind.tensors:
        raise SpecError(
            f"unknown tensor {tensor!r} for layer {kind}; valid choices: "
            f"{', '.join(layer_kind.tensors)}"
        )
    expected = (*layer_kind.required, *layer_kind.optional)
    unknown = sorted(set(arguments) - set(expected))
    if unknown:
        raise SpecError(
            f"unknown argument {unknown[0]!r} for layer {kind}; "
            f"valid arguments: {', '.join(expected)}"
        )
    missing = [name for name in layer_kind.required if name not in arguments]
    if missing:
        raise SpecError(
            f"layer {text!r} is missing {', '.join(missing)}; {kind} needs {', '.join(expected)}"
        )
    for name, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpecError(
                f"invalid {name}={value!r} in layer {text!r}; expected a positive integer"
            )
    problem = check_arguments(kind, arguments)
    if problem:
        raise SpecError(f"invalid layer {text!r}: {problem}")
    return LayerSpec(kind, layer_kind.arguments(arguments), text.strip(), tensor)


@dataclass(frozen=True)
class SideSpec:
    text: str
    framework: str
    backend: str | None
    initializer: str
    arguments: dict[str, Any] = field(default_factory=dict)
    dtype: str = DEFAULT_DTYPE
    # Why the side cannot run at all, e.g. the framework has no counterpart of the initializer.
    unavailable: str | None = None

    @property
    def runtime(self) -> tuple[str, str | None]:
        """The worker process this side runs in: one per framework and backend."""
        return (self.framework, self.backend)


def parse_side(text: str) -> SideSpec:
    body, at, dtype = text.strip().rpartition("@")
    if not at:
        body, dtype = text.strip(), DEFAULT_DTYPE
    elif dtype not in DTYPES:
        raise SpecError(
            f"unknown dtype {dtype!r} in side {text!r}; valid choices: {', '.join(DTYPES)}"
        )
    head, sep, call = body.partition(":")
    if not sep:
        raise SpecError(
            f"invalid side {text!r}; "
            "expected FRAMEWORK[/BACKEND]:INITIALIZER, e.g. torch:kaiming_normal"
        )
    framework, _, backend_text = head.strip().partition("/")
    if framework not in FRAMEWORKS:
        raise SpecError(
            f"unknown framework {framework!r} in side {text!r}; "
            f"valid choices: {', '.join(FRAMEWORKS)}"
        )
    adapter = adapter_for(framework)
    backend = backend_text or None
    if backend not in adapter.backends:
        valid = (
            ", ".join(b for b in adapter.backends if b) or "none (this framework has no backends)"
        )
        raise SpecError(
            f"unknown backend {backend!r} for {framework} in side {text!r}; valid choices: {valid}"
        )
    if framework == "keras" and backend is None:
        backend = adapter.DEFAULT_BACKEND

    name, arguments = _parse_call(call, "initializer")
    if name not in adapter.initializers:
        own, common = resolve_initializer(framework, name)
        if own is None and common is None:
            raise SpecError(
                f"unknown initializer {name!r} for {framework}; valid choices: "
                f"{', '.join(sorted(adapter.initializers))}, or a common name: "
                f"{', '.join(INITIALIZER_NAMES)}"
            )
        if own is None or own not in adapter.initializers:
            reason = f"no counterpart: {framework} has no initializer matching {common}"
            return SideSpec(text.strip(), framework, backend, common, arguments, dtype, reason)
        name = own
    allowed = adapter.initializers[name].arguments
    for key, value in arguments.items():
        if key not in allowed:
            valid = ", ".join(allowed) if allowed else "none"
            raise SpecError(
                f"unknown argument {key!r} for {framework}:{name}; valid arguments: {valid}"
            )
        if key in adapter.numeric and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise SpecError(f"invalid {key}={value!r} for {framework}:{name}; expected a number")
        valid_values = adapter.choices.get(key)
        if valid_values is not None and value not in valid_values:
            raise SpecError(
                f"invalid {key}={value!r} for {framework}:{name}; "
                f"valid choices: {', '.join(valid_values)}"
            )
    return SideSpec(text.strip(), framework, backend, name, arguments, dtype)


@dataclass(frozen=True)
class ComparisonSpec:
    name: str
    left: SideSpec
    right: SideSpec
    layer: LayerSpec
    layers: int
    seed: int

    def side_seed(self, position: int) -> int:
        """Derive a side's seed from the comparison seed, its name and the side's position.

        The two sides never share a random stream, even when they name the same framework.
        Comparisons of one suite share its seed, so their names keep their draws independent.
        The same seed and name always give the same side seeds.
        """
        name_key = zlib.crc32(self.name.encode())
        state = np.random.SeedSequence([self.seed, name_key, position]).generate_state(1)[0]
        return int(state) & 0x7FFFFFFF


def check_sample_size(layer: LayerSpec, layers: int) -> None:
    """Reject a comparison whose sides would hold fewer than 2 weights each."""
    weights = layer.weights_per_layer * layers
    if weights < 2:
        raise SpecError(
            f"{layer.text} x {layers} layers gives {weights} weight per side; "
            "a comparison needs at least 2 (raise --layers)"
        )


def check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"invalid {name}={value!r}; expected an integer >= 1")
    return value


def check_seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError(f"invalid seed={value!r}; expected an integer >= 0")
    return value


def check_alpha(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 0.5:
        raise SpecError(f"invalid alpha={value!r}; expected a number in (0, 0.5)")
    return float(value)


def slug(text: str) -> str:
    """Turn a comparison name into a file-name stem."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "comparison"
