"""PyTorch adapter: `torch.nn` layers initialised by `torch.nn.init`.

Layers are built once and re-initialised in place for every draw; the global generator is
seeded once per request with `torch.manual_seed`, so successive layers get fresh values.
Weights already use the canonical layout (out, in, *kernel), and PyTorch's gate orders are the
canonical ones, so every tensor is returned as stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from adapters.base import Draw, DrawRequest, InitializerInfo, NoCounterpartError, require_fresh

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
    "constant": InitializerInfo("torch.nn.init.constant_", ("val",), "every weight equals val"),
    "zeros": InitializerInfo("torch.nn.init.zeros_", (), "every weight equals 0"),
    "ones": InitializerInfo("torch.nn.init.ones_", (), "every weight equals 1"),
    "default": InitializerInfo(
        "reset_parameters",
        (),
        "the layer's own reset: reset_parameters, or _reset_parameters for MultiheadAttention",
    ),
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
numeric = ("a", "b", "gain", "mean", "std", "val")

# Combinations this adapter reports as errors rather than draws, for `init-harness list`.
no_counterpart = {
    "orthogonal in float16 or bfloat16": "torch's CPU QR (geqrf) has no half-precision kernel",
}

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

# Initializers that write the same values into every layer, so repeats are expected.
_DETERMINISTIC = ("constant", "zeros", "ones")

_CONVOLUTIONS = {
    "conv1d": "Conv1d",
    "conv2d": "Conv2d",
    "conv3d": "Conv3d",
    "conv_transpose1d": "ConvTranspose1d",
    "conv_transpose2d": "ConvTranspose2d",
}
_ATTENTION_BLOCKS = ("query", "key", "value")
# The catalogue's dtype names, which are also the names of torch's dtypes.
_DTYPES = ("float32", "float16", "bfloat16")


@dataclass
class _Target:
    """The weight a request draws and the tensor its initializer receives.

    `weight` is the requested tensor itself, possibly a view. `received` is the tensor that the
    init function is called with, which is larger than `weight` only for the default of
    MultiheadAttention's query, key and value blocks: `_reset_parameters` initialises the whole
    in_proj_weight at once.
    """

    weight: Any
    received: Any
    label: str


def _build_layer(torch: Any, kind: str, arguments: dict[str, int], dtype: Any) -> Any:
    nn = torch.nn
    if kind == "dense":
        return nn.Linear(arguments["in"], arguments["out"], dtype=dtype)
    if kind in _CONVOLUTIONS:
        convolution = getattr(nn, _CONVOLUTIONS[kind])
        return convolution(
            arguments["in"],
            arguments["out"],
            arguments["kernel"],
            groups=arguments["groups"],
            dtype=dtype,
        )
    if kind == "depthwise_conv2d":
        channels = arguments["in"]
        return nn.Conv2d(
            channels,
            channels * arguments["multiplier"],
            arguments["kernel"],
            groups=channels,
            dtype=dtype,
        )
    if kind == "embedding":
        return nn.Embedding(arguments["num"], arguments["dim"], dtype=dtype)
    if kind == "lstm":
        return nn.LSTM(arguments["in"], arguments["hidden"], dtype=dtype)
    if kind == "gru":
        return nn.GRU(arguments["in"], arguments["hidden"], dtype=dtype)
    if kind == "attention":
        return nn.MultiheadAttention(arguments["dim"], arguments["heads"], dtype=dtype)
    raise ValueError(f"layer {kind!r} has no PyTorch counterpart in this adapter")


def _target(layer: Any, kind: str, tensor: str, default: bool) -> _Target:
    """Find the requested tensor in `layer`.

    Call it under torch.no_grad(), so that the attention blocks, which are views, carry no graph.
    """
    if kind in ("lstm", "gru"):
        # PyTorch has two biases per layer, bias_ih_l0 and bias_hh_l0, and adds both, but Keras
        # has one. `bias` is bias_ih_l0, the input-to-hidden bias.
        name = {"kernel": "weight_ih_l0", "recurrent_kernel": "weight_hh_l0", "bias": "bias_ih_l0"}
        weight = getattr(layer, name[tensor])
        return _Target(weight, weight, name[tensor])
    if kind == "attention":
        if tensor == "output":
            return _Target(layer.out_proj.weight, layer.out_proj.weight, "out_proj.weight")
        # in_proj_weight stacks the query, key and value projections as row blocks.
        dim = layer.embed_dim
        start = _ATTENTION_BLOCKS.index(tensor) * dim
        block = layer.in_proj_weight[start : start + dim]
        received = layer.in_proj_weight if default else block
        return _Target(block, received, f"in_proj_weight[{start}:{start + dim}]")
    if kind == "embedding" or tensor == "kernel":
        return _Target(layer.weight, layer.weight, "weight")
    return _Target(layer.bias, layer.bias, "bias")


def _fans(torch: Any, tensor: Any) -> tuple[int | None, int | None]:
    """Return PyTorch's fans of `tensor`, or (None, None) for 1-D tensors, which have none."""
    if tensor.dim() < 2:
        return None, None
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(tensor)
    return int(fan_in), int(fan_out)


def _default_reset(layer: Any, kind: str) -> tuple[Any, str]:
    """Return the function that re-runs the layer's own initialisation, and its description."""
    name = type(layer).__name__
    if kind == "attention":
        # MultiheadAttention.__init__ builds out_proj, a Linear whose constructor runs
        # Linear.reset_parameters, and then calls _reset_parameters, which re-initialises
        # in_proj_weight and zeroes both biases but leaves out_proj.weight alone.
        def reset() -> None:
            layer.out_proj.reset_parameters()
            layer._reset_parameters()

        return reset, f"{name}.out_proj.reset_parameters(); {name}._reset_parameters()"
    # RNNBase.reset_parameters draws every parameter in place, so no flatten_parameters call is
    # needed. That call only re-packs weights for cuDNN.
    return layer.reset_parameters, f"{name}.reset_parameters()"


def _default_reference(
    torch: Any, layer: Any, kind: str, tensor: str, fans: tuple[int | None, int | None]
):
    """Return the distribution of the layer's own initialisation of `tensor`, from torch 2.13.

    Linear and the convolutions: kaiming_uniform_(weight, a=sqrt(5)), which is the uniform on
    +-1/sqrt(fan_in), and a bias uniform on the same bound, fan_in being the weight's.
    Embedding: normal_(weight), N(0, 1). LSTM and GRU: uniform_ on +-1/sqrt(hidden_size) for
    every parameter. MultiheadAttention: xavier_uniform_ on the whole (3 * dim, dim)
    in_proj_weight, and out_proj.weight as Linear's default.
    """
    from harness.references import Normal, Uniform

    if kind == "embedding":
        return Normal(0.0, 1.0)
    if kind in ("lstm", "gru"):
        return Uniform(0.0, 1.0 / math.sqrt(layer.hidden_size))
    if kind == "attention":
        if tensor == "output":
            fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(layer.out_proj.weight)
            return Uniform(0.0, 1.0 / math.sqrt(fan_in))
        fan_in, fan_out = fans
        return Uniform.with_std(math.sqrt(2.0 / (fan_in + fan_out)))
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(layer.weight)
    return Uniform(0.0, 1.0 / math.sqrt(fan_in))


def _reference(
    torch: Any, name: str, options: dict[str, Any], fans: tuple, shape: tuple
) -> dict[str, Any]:
    """Return the distribution PyTorch documents for the initializer `name` as a reference dict.

    `fans` and `shape` belong to the tensor the init function received.
    """
    from harness.references import Constant, Normal, Orthogonal, TruncatedNormal, Uniform

    fan_in, fan_out = fans
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
    elif name in _DETERMINISTIC:
        value = {"zeros": 0.0, "ones": 1.0}.get(name)
        reference = Constant(float(options["val"]) if value is None else value)
    else:
        raise ValueError(f"no reference for initializer {name!r}")
    return reference.to_dict()


def draw(request: DrawRequest) -> Draw:
    import torch

    if request.dtype not in _DTYPES:
        raise NoCounterpartError(
            f"unsupported dtype {request.dtype!r}; valid choices: {', '.join(_DTYPES)}"
        )
    dtype = getattr(torch, request.dtype)
    torch.manual_seed(request.seed)
    layer = _build_layer(torch, request.layer, dict(request.layer_arguments), dtype)

    name = request.initializer
    default = name == "default"
    with torch.no_grad():
        target = _target(layer, request.layer, request.tensor, default)
    fans = _fans(torch, target.received)

    if default:
        initialise, call = _default_reset(layer, request.layer)
    else:
        function = getattr(torch.nn.init, initializers[name].call.rsplit(".", 1)[1])
        rendered = "".join(f", {k}={v!r}" for k, v in request.arguments.items())
        call = f"{initializers[name].call}({target.label}{rendered})"

        def initialise() -> None:
            function(target.weight, **request.arguments)

    weight = target.weight
    weights = np.empty((request.layers, *weight.shape), dtype=np.float32)
    previous = None
    with torch.no_grad():
        for index in range(request.layers):
            initialise()
            weights[index] = weight.detach().float().cpu().numpy()
            if name not in _DETERMINISTIC:
                require_fresh(previous, weights[index], call)
            previous = weights[index]

    if default:
        reference = _default_reference(torch, layer, request.layer, request.tensor, fans)
        reference = reference.to_dict()
    else:
        options = {**_DEFAULTS.get(name, {}), **request.arguments}
        reference = _reference(torch, name, options, fans, tuple(target.received.shape))
    return Draw(
        weights=weights,
        fan_in=fans[0],
        fan_out=fans[1],
        reference=reference,
        native_shape=tuple(weight.shape),
        layer_class=f"torch.nn.{type(layer).__name__}",
        initializer_call=call,
        versions={"torch": torch.__version__},
    )
