"""PyTorch adapter: `torch.nn` layers initialised by `torch.nn.init`.

Layers are built once and re-initialised in place for every draw; the global generator is
seeded once per request with `torch.manual_seed`, so successive layers get fresh values.
Weights already use the canonical layout (out, in, *kernel).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adapters.base import Draw, DrawRequest, InitializerInfo, require_fresh

framework = "torch"
backends: tuple[str | None, ...] = (None,)
packages = {None: ("torch",)}

initializers = {
    "kaiming_normal": InitializerInfo(
        "torch.nn.init.kaiming_normal_",
        ("a", "mode", "nonlinearity"),
        "normal, std gain/sqrt(fan)",
    ),
    "kaiming_uniform": InitializerInfo(
        "torch.nn.init.kaiming_uniform_",
        ("a", "mode", "nonlinearity"),
        "uniform, bound gain*sqrt(3/fan)",
    ),
    "xavier_normal": InitializerInfo(
        "torch.nn.init.xavier_normal_", ("gain",), "normal, std gain*sqrt(2/(fan_in+fan_out))"
    ),
    "xavier_uniform": InitializerInfo(
        "torch.nn.init.xavier_uniform_", ("gain",), "uniform, bound gain*sqrt(6/(fan_in+fan_out))"
    ),
    "normal": InitializerInfo("torch.nn.init.normal_", ("mean", "std"), "normal(mean, std)"),
    "uniform": InitializerInfo("torch.nn.init.uniform_", ("a", "b"), "uniform on [a, b]"),
    "trunc_normal": InitializerInfo(
        "torch.nn.init.trunc_normal_",
        ("mean", "std", "a", "b"),
        "normal(mean, std) cut at the absolute bounds a and b, no variance correction",
    ),
    "orthogonal": InitializerInfo(
        "torch.nn.init.orthogonal_", ("gain",), "(semi-)orthogonal matrix of out rows, times gain"
    ),
    "default": InitializerInfo("reset_parameters", (), "the layer's own reset_parameters"),
}

# Arguments whose valid values are a fixed set, checked before any worker starts.
choices = {
    "mode": ("fan_in", "fan_out"),
    "nonlinearity": (
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "selu",
    ),
}

# Arguments that must be numbers.
numeric = ("a", "b", "gain", "mean", "std")

_DEFAULTS = {
    "kaiming_normal": {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
    "kaiming_uniform": {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
    "xavier_normal": {"gain": 1.0},
    "xavier_uniform": {"gain": 1.0},
    "normal": {"mean": 0.0, "std": 1.0},
    "uniform": {"a": 0.0, "b": 1.0},
    "trunc_normal": {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0},
    "orthogonal": {"gain": 1.0},
}


def _build_layer(torch: Any, kind: str, arguments: dict[str, int]) -> Any:
    if kind == "dense":
        return torch.nn.Linear(arguments["in"], arguments["out"])
    if kind == "conv2d":
        return torch.nn.Conv2d(arguments["in"], arguments["out"], arguments["kernel"])
    raise ValueError(f"layer {kind!r} has no PyTorch counterpart in this adapter")


def _reference(
    torch: Any, name: str, options: dict[str, Any], fan_in: int, fan_out: int, shape: tuple
):
    """Return the distribution PyTorch documents for `name` as a reference dict."""
    from harness.references import Normal, Orthogonal, TruncatedNormal, Uniform

    if name == "default":
        # Linear and Conv reset_parameters call kaiming_uniform_ with a=sqrt(5) on fan_in,
        # which gives the uniform on +-1/sqrt(fan_in).
        name, options = "kaiming_uniform", {"a": math.sqrt(5.0), "mode": "fan_in"}
        options["nonlinearity"] = "leaky_relu"
    if name in ("kaiming_normal", "kaiming_uniform"):
        gain = torch.nn.init.calculate_gain(options["nonlinearity"], options["a"])
        fan = fan_in if options["mode"] == "fan_in" else fan_out
        std = gain / math.sqrt(fan)
        reference = Normal(0.0, std) if name == "kaiming_normal" else Uniform.with_std(std)
    elif name in ("xavier_normal", "xavier_uniform"):
        std = options["gain"] * math.sqrt(2.0 / (fan_in + fan_out))
        reference = Normal(0.0, std) if name == "xavier_normal" else Uniform.with_std(std)
    elif name == "normal":
        reference = Normal(float(options["mean"]), float(options["std"]))
    elif name == "uniform":
        low, high = float(options["a"]), float(options["b"])
        reference = Uniform(0.5 * (low + high), 0.5 * (high - low))
    elif name == "orthogonal":
        # orthogonal_ flattens the weight to (size(0), numel / size(0)).
        rows = shape[0]
        reference = Orthogonal(float(options["gain"]), rows, math.prod(shape) // rows)
    elif name == "trunc_normal":
        reference = TruncatedNormal.absolute(
            float(options["std"]), float(options["a"]), float(options["b"]), float(options["mean"])
        )
    else:
        raise ValueError(f"no reference for initializer {name!r}")
    return reference.to_dict()


def draw(request: DrawRequest) -> Draw:
    import torch

    torch.manual_seed(request.seed)
    layer = _build_layer(torch, request.layer, dict(request.layer_arguments))
    weight = layer.weight
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(weight)

    name = request.initializer
    options = {**_DEFAULTS.get(name, {}), **request.arguments}
    if name == "default":
        initialise = layer.reset_parameters
        call = f"{type(layer).__name__}.reset_parameters()"
    else:
        function = getattr(torch.nn.init, initializers[name].call.rsplit(".", 1)[1])
        rendered = ", ".join(f"{k}={v!r}" for k, v in request.arguments.items())
        call = f"{initializers[name].call}(weight{', ' if rendered else ''}{rendered})"

        def initialise() -> None:
            function(weight, **request.arguments)

    weights = np.empty((request.layers, *weight.shape), dtype=np.float32)
    previous = None
    with torch.no_grad():
        for index in range(request.layers):
            initialise()
            weights[index] = weight.detach().cpu().numpy()
            require_fresh(previous, weights[index], call)
            previous = weights[index]

    return Draw(
        weights=weights,
        fan_in=int(fan_in),
        fan_out=int(fan_out),
        reference=_reference(torch, name, options, fan_in, fan_out, tuple(weight.shape)),
        native_shape=tuple(weight.shape),
        layer_class=f"torch.nn.{type(layer).__name__}",
        initializer_call=call,
        versions={"torch": torch.__version__},
    )
