"""JAX adapter: `flax.nnx` layers initialised by `jax.nn.initializers`.

Flax NNX is the layer API the Flax documentation encourages new users to adopt, and Linen is
its older, functional predecessor.

Every layer is built anew through its own class, drawing its keys from one `nnx.Rngs` seeded
once per request, so successive layers get fresh keys. The requested initializer is passed as
the constructor argument that governs the requested tensor only (`kernel_init`, `bias_init`,
`recurrent_kernel_init`, `embedding_init`, `out_kernel_init`). Each initializer is wrapped to
record the shape the layer passes to it, and the fans reported are the ones JAX computes for
that shape. It is not always the parameter's own shape: Flax's `LinearGeneral`, used by the
attention projections, flattens the kernel to 2-D before calling its initializer.

Tensors that Flax keeps as several parameters are concatenated into the canonical layout.
`LSTMCell` has one `Linear` per gate: `ii, if_, ig, io` on the input and `hi, hf, hg, ho` on the
hidden state. They are stacked in PyTorch's gate order (input, forget, cell, output), and
`native_shape` is reported as (gates, *one gate's shape). The LSTM `bias` is the bias of the
hidden-state `Linear` layers (`hi.bias` ... `ho.bias`), because Flax's input-side layers have
none. The GRU `bias` is `dense_i.bias`, the input-side bias of the (reset, update, new) gates,
because Flax's hidden-side `dense_h` has no bias.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adapters.base import Draw, DrawRequest, InitializerInfo, NoCounterpartError, require_fresh

framework = "jax"
backends: tuple[str | None, ...] = (None,)
packages = {None: ("jax", "flax")}

_JAX = "jax.nn.initializers"
initializers = {
    "he_normal": InitializerInfo(
        f"{_JAX}.he_normal",
        (),
        "normal cut at 2 raw std, variance-corrected to std sqrt(2/fan_in)",
    ),
    "he_uniform": InitializerInfo(f"{_JAX}.he_uniform", (), "uniform, bound sqrt(6/fan_in)"),
    "glorot_normal": InitializerInfo(
        f"{_JAX}.glorot_normal",
        (),
        "normal cut at 2 raw std, variance-corrected to std sqrt(2/(fan_in+fan_out))",
    ),
    "glorot_uniform": InitializerInfo(
        f"{_JAX}.glorot_uniform", (), "uniform, bound sqrt(6/(fan_in+fan_out))"
    ),
    "lecun_normal": InitializerInfo(
        f"{_JAX}.lecun_normal",
        (),
        "normal cut at 2 raw std, variance-corrected to std sqrt(1/fan_in)",
    ),
    "lecun_uniform": InitializerInfo(f"{_JAX}.lecun_uniform", (), "uniform, bound sqrt(3/fan_in)"),
    "variance_scaling": InitializerInfo(
        f"{_JAX}.variance_scaling",
        ("scale", "mode", "distribution"),
        "std sqrt(scale/fan); all three arguments are required",
    ),
    "normal": InitializerInfo(f"{_JAX}.normal", ("stddev",), "normal(0, stddev), stddev 0.01"),
    "truncated_normal": InitializerInfo(
        f"{_JAX}.truncated_normal",
        ("stddev", "lower", "upper"),
        "normal(0, stddev) cut at lower*stddev and upper*stddev (-2 and 2), no variance "
        "correction",
    ),
    "uniform": InitializerInfo(f"{_JAX}.uniform", ("scale",), "uniform on [0, scale), scale 0.01"),
    "orthogonal": InitializerInfo(
        f"{_JAX}.orthogonal",
        ("scale",),
        "(semi-)orthogonal matrix with the last axis as columns, times scale",
    ),
    "constant": InitializerInfo(f"{_JAX}.constant", ("value",), "every weight equals value"),
    "zeros": InitializerInfo(f"{_JAX}.zeros", (), "every weight is 0"),
    "ones": InitializerInfo(f"{_JAX}.ones", (), "every weight is 1"),
    "default": InitializerInfo(
        "the layer's default initializer", (), "the flax.nnx layer's own one for the tensor"
    ),
}

# Arguments whose valid values are a fixed set, checked before any worker starts.
choices = {
    "mode": ("fan_in", "fan_out", "fan_avg", "fan_geo_avg"),
    "distribution": ("truncated_normal", "normal", "uniform"),
}

# Arguments that must be numbers.
numeric = ("scale", "stddev", "lower", "upper", "value")

# Combinations this adapter reports as skipped, for `init-harness list`.
no_counterpart = {
    "conv_transpose1d/2d with groups != 1": "flax.nnx.ConvTranspose has no feature groups",
}

# Initializers that take no key and return the same array for every layer.
_CONSTANT_BUILDERS = ("constant", "zeros", "ones")


# ---------------------------------------------------------------------------------------------
# Recording what the layer passes to its initializers


@dataclass
class _Call:
    """One call a layer made to an initializer: the function that ran, the shape, the result."""

    initializer: Callable
    shape: tuple[int, ...]
    result: Any


@dataclass
class _RecordingInitializer:
    """An initializer that calls through to `initializer` and records every call.

    When `substitute_call` is set, that call (counted from 0) goes to `substitute` instead. The
    attention layer passes one `kernel_init` to its query, key and value projections, so this is
    how one of the three gets the requested initializer.
    """

    initializer: Callable
    substitute: Callable | None = None
    substitute_call: int | None = None
    calls: list[_Call] = field(default_factory=list)

    def __call__(self, key, shape, *args, **kwargs):
        chosen = self.initializer
        if self.substitute is not None and len(self.calls) == self.substitute_call:
            chosen = self.substitute
        result = chosen(key, shape, *args, **kwargs)
        self.calls.append(_Call(chosen, tuple(int(d) for d in shape), result))
        return result


# ---------------------------------------------------------------------------------------------
# Layers: which class, which constructor argument governs each tensor, and the canonical layout


@dataclass
class _LayerPlan:
    """How to build one layer kind and read one of its tensors in the canonical layout."""

    cls: Any
    arguments: dict[str, Any]
    # The constructor argument that sets the tensor's initializer.
    init_argument: str
    # The tensor's parameters, in the order their parts appear in the canonical tensor.
    parts: Callable[[Any], list[Any]]
    # Native parts (numpy, float32) -> the canonical tensor.
    to_canonical: Callable[[list[np.ndarray]], np.ndarray]
    # For the attention projections sharing `kernel_init`: which of its calls is this tensor's.
    shared_call: int | None = None


def _single(transform: Callable[[np.ndarray], np.ndarray]):
    return lambda parts: transform(parts[0])


def _stacked_gates(parts: list[np.ndarray]) -> np.ndarray:
    """Stack per-gate (in, hidden) kernels or (hidden,) biases into (gates * hidden, ...)."""
    return np.concatenate([part.T for part in parts], axis=0)


def _kernel_axes(dimensions: int) -> tuple[int, ...]:
    """Return the axes that take a (*kernel, in, out) kernel to (out, in, *kernel)."""
    return (dimensions + 1, dimensions, *range(dimensions))


def _conv_plan(nnx, dimensions: int, a: dict[str, int], tensor: str) -> _LayerPlan:
    arguments = {
        "in_features": a["in"],
        "out_features": a["out"],
        "kernel_size": (a["kernel"],) * dimensions,
        "feature_group_count": a.get("groups", 1),
    }
    axes = _kernel_axes(dimensions)
    if tensor == "kernel":
        return _LayerPlan(
            nnx.Conv,
            arguments,
            "kernel_init",
            lambda layer: [layer.kernel],
            _single(lambda w: np.transpose(w, axes)),
        )
    return _LayerPlan(
        nnx.Conv, arguments, "bias_init", lambda layer: [layer.bias], _single(lambda w: w)
    )


def _conv_transpose_plan(nnx, dimensions: int, a: dict[str, int], tensor: str) -> _LayerPlan:
    if a.get("groups", 1) != 1:
        raise NoCounterpartError(
            f"flax.nnx.ConvTranspose has no feature_group_count, so groups={a['groups']} "
            "has no counterpart; use groups=1"
        )
    arguments = {
        "in_features": a["in"],
        "out_features": a["out"],
        "kernel_size": (a["kernel"],) * dimensions,
    }
    spatial = tuple(range(dimensions))
    # (*kernel, in, out) -> (in, out, *kernel). With its default transpose_kernel=False, Flax
    # applies the kernel spatially flipped relative to torch.nn.ConvTranspose*d (a one-hot
    # input returns the kernel reversed), so the spatial axes are flipped to make element
    # [i, o, k] the same weight as in PyTorch.
    axes = (dimensions, dimensions + 1, *spatial)
    if tensor == "kernel":
        return _LayerPlan(
            nnx.ConvTranspose,
            arguments,
            "kernel_init",
            lambda layer: [layer.kernel],
            _single(lambda w: np.transpose(np.flip(w, axis=spatial), axes)),
        )
    return _LayerPlan(
        nnx.ConvTranspose,
        arguments,
        "bias_init",
        lambda layer: [layer.bias],
        _single(lambda w: w),
    )


def _recurrent_plan(nnx, kind: str, a: dict[str, int], tensor: str) -> _LayerPlan:
    arguments = {"in_features": a["in"], "hidden_features": a["hidden"]}
    init_argument = {
        "kernel": "kernel_init",
        "recurrent_kernel": "recurrent_kernel_init",
        "bias": "bias_init",
    }[tensor]
    if kind == "lstm":
        # Input-side gates ii, if_, ig, io and hidden-side gates hi, hf, hg, ho, each a Linear.
        names = {
            "kernel": (("ii", "kernel"), ("if_", "kernel"), ("ig", "kernel"), ("io", "kernel")),
            "recurrent_kernel": (
                ("hi", "kernel"),
                ("hf", "kernel"),
                ("hg", "kernel"),
                ("ho", "kernel"),
            ),
            "bias": (("hi", "bias"), ("hf", "bias"), ("hg", "bias"), ("ho", "bias")),
        }[tensor]
        return _LayerPlan(
            nnx.LSTMCell,
            arguments,
            init_argument,
            lambda layer: [getattr(getattr(layer, gate), name) for gate, name in names],
            _stacked_gates,
        )
    # GRUCell: dense_i (in, 3 * hidden) with bias and dense_h (hidden, 3 * hidden) without, the
    # columns ordered (reset, update, new) like PyTorch's rows.
    gate, name = {
        "kernel": ("dense_i", "kernel"),
        "recurrent_kernel": ("dense_h", "kernel"),
        "bias": ("dense_i", "bias"),
    }[tensor]
    return _LayerPlan(
        nnx.GRUCell,
        arguments,
        init_argument,
        lambda layer: [getattr(getattr(layer, gate), name)],
        _single(lambda w: w.T),
    )


def _attention_plan(nnx, a: dict[str, int], tensor: str) -> _LayerPlan:
    dim = a["dim"]
    arguments = {"num_heads": a["heads"], "in_features": dim}
    if tensor == "output":
        # out.kernel is (heads, head_dim, dim): (in, out) once the heads are merged.
        return _LayerPlan(
            nnx.MultiHeadAttention,
            arguments,
            "out_kernel_init",
            lambda layer: [layer.out.kernel],
            _single(lambda w: w.reshape(dim, dim).T),
        )
    # query, key and value kernels are (dim, heads, head_dim): (in, out) once the heads are
    # merged, head h occupying rows h * head_dim ... (h + 1) * head_dim - 1, as in PyTorch.
    # MultiHeadAttention builds them in this order, each with one call to kernel_init.
    order = ("query", "key", "value")
    return _LayerPlan(
        nnx.MultiHeadAttention,
        arguments,
        "kernel_init",
        lambda layer: [getattr(layer, tensor).kernel],
        _single(lambda w: w.reshape(dim, dim).T),
        shared_call=order.index(tensor),
    )


def _layer_plan(nnx, kind: str, a: dict[str, int], tensor: str) -> _LayerPlan:
    if kind == "dense":
        arguments = {"in_features": a["in"], "out_features": a["out"]}
        if tensor == "kernel":
            return _LayerPlan(
                nnx.Linear,
                arguments,
                "kernel_init",
                lambda layer: [layer.kernel],
                _single(lambda w: w.T),
            )
        return _LayerPlan(
            nnx.Linear, arguments, "bias_init", lambda layer: [layer.bias], _single(lambda w: w)
        )
    if kind in ("conv1d", "conv2d", "conv3d"):
        return _conv_plan(nnx, int(kind[4]), a, tensor)
    if kind in ("conv_transpose1d", "conv_transpose2d"):
        return _conv_transpose_plan(nnx, int(kind[-2]), a, tensor)
    if kind == "depthwise_conv2d":
        depthwise = {**a, "out": a["in"] * a["multiplier"], "groups": a["in"]}
        return _conv_plan(nnx, 2, depthwise, tensor)
    if kind == "embedding":
        return _LayerPlan(
            nnx.Embed,
            {"num_embeddings": a["num"], "features": a["dim"]},
            "embedding_init",
            lambda layer: [layer.embedding],
            _single(lambda w: w),
        )
    if kind in ("lstm", "gru"):
        return _recurrent_plan(nnx, kind, a, tensor)
    if kind == "attention":
        return _attention_plan(nnx, a, tensor)
    raise NoCounterpartError(f"layer {kind!r} has no flax.nnx counterpart in this adapter")


# ---------------------------------------------------------------------------------------------
# Reading an initializer: what it is, its fans and its documented distribution


def _describe(jax, initializer: Callable) -> tuple[str, dict[str, Any]]:
    """Return the jax.nn.initializers builder behind `initializer` and its arguments.

    JAX's builders return a nested function `init` whose closure contains the builder's
    arguments, so the arguments are read from the closure rather than assumed.
    """
    from flax.nnx.nn import recurrent

    if initializer is recurrent.modified_orthogonal:
        # NOTE: a plain function in flax 0.12.8 (flax/nnx/nn/recurrent.py), not a closure:
        # it calls orthogonal() with its defaults, then casts to the parameter dtype.
        return "orthogonal", {"scale": 1.0, "column_axis": -1}
    if initializer is jax.nn.initializers.zeros:
        return "zeros", {}
    if initializer is jax.nn.initializers.ones:
        return "ones", {}
    qualified = getattr(initializer, "__qualname__", "")
    if getattr(initializer, "__module__", "").startswith("jax.") and qualified.endswith(
        ".<locals>.init"
    ):
        return qualified.split(".")[0], dict(inspect.getclosurevars(initializer).nonlocals)
    raise ValueError(f"cannot read which distribution the initializer {initializer!r} draws")


def _render(builder: str, parameters: dict[str, Any]) -> str:
    if builder in ("zeros", "ones"):
        return f"{_JAX}.{builder}"
    rendered = ", ".join(f"{name}={value!r}" for name, value in sorted(parameters.items()))
    return f"{_JAX}.{builder}({rendered})"


def _as_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _fans(
    compute_fans, builder: str, parameters: dict[str, Any], shape: tuple[int, ...]
) -> tuple[int | float | None, int | float | None]:
    """Return the fans JAX computes for `shape`, or (None, None) where it computes none.

    Variance-scaling initializers use their own in_axis, out_axis and batch_axis. For any other
    initializer, the fans are the ones a default variance-scaling initializer would use.
    """
    in_axis = parameters.get("in_axis", -2) if builder == "variance_scaling" else -2
    out_axis = parameters.get("out_axis", -1) if builder == "variance_scaling" else -1
    batch_axis = parameters.get("batch_axis", ()) if builder == "variance_scaling" else ()
    if len(shape) < 2 and in_axis == -2:
        return None, None
    fan_in, fan_out = compute_fans(shape, in_axis, out_axis, batch_axis)
    return _as_number(fan_in), _as_number(fan_out)


def _reference(
    builder: str,
    parameters: dict[str, Any],
    shape: tuple[int, ...],
    fans: tuple[Any, Any],
    blocks: int,
) -> dict[str, Any]:
    """Return the distribution jax.nn.initializers documents for one call, as a reference dict.

    `shape` is what the initializer saw and `blocks` how many such calls make up the tensor.
    """
    from harness.references import Constant, Normal, Orthogonal, TruncatedNormal, Uniform

    if builder == "variance_scaling":
        fan_in, fan_out = fans
        denominator = {
            "fan_in": lambda: fan_in,
            "fan_out": lambda: fan_out,
            "fan_avg": lambda: (fan_in + fan_out) / 2.0,
            "fan_geo_avg": lambda: math.sqrt(fan_in * fan_out),
        }[parameters["mode"]]()
        std = math.sqrt(parameters["scale"] / denominator)
        distribution = parameters["distribution"]
        if distribution == "truncated_normal":
            # JAX draws at std / .87962566103423978 and cuts at 2 of those raw std.
            reference = TruncatedNormal.variance_corrected_at(std)
        elif distribution == "normal":
            reference = Normal(0.0, std)
        else:
            reference = Uniform.with_std(std)
    elif builder == "normal":
        reference = Normal(0.0, abs(float(parameters["stddev"])))
    elif builder == "truncated_normal":
        # Bounds are in units of stddev and there is no variance correction (JAX's docstring).
        lower, upper = float(parameters["lower"]), float(parameters["upper"])
        if lower != -upper:
            raise ValueError(
                f"truncated_normal bounds lower={lower} and upper={upper} are not symmetric, "
                "and the truncated-normal reference needs them to be; pass lower=-upper"
            )
        reference = TruncatedNormal.uncorrected_at(abs(float(parameters["stddev"])), upper)
    elif builder == "uniform":
        # jax.random.uniform on [0, 1) times scale.
        scale = float(parameters["scale"])
        reference = Uniform(0.5 * scale, 0.5 * abs(scale))
    elif builder == "orthogonal":
        # JAX orthogonalises the (size / shape[column_axis], shape[column_axis]) matrix. In the
        # canonical (out, in) orientation that is shape[column_axis] rows.
        rows = shape[parameters["column_axis"]]
        data = Orthogonal(float(parameters["scale"]), rows, math.prod(shape) // rows).to_dict()
        if blocks > 1:
            # NOTE: each gate is its own orthogonal matrix, so the stacked tensor is not
            # orthogonal as a whole.
            data["blocks"] = blocks
        return data
    elif builder in _CONSTANT_BUILDERS:
        value = {"zeros": 0.0, "ones": 1.0}.get(builder, parameters.get("value"))
        reference = Constant(float(value))
    else:
        raise ValueError(f"no reference for initializer {builder!r}")
    return reference.to_dict()


# ---------------------------------------------------------------------------------------------
# Drawing


def _requested_initializer(jax, name: str, arguments: dict[str, Any]) -> Callable:
    builder = getattr(jax.nn.initializers, initializers[name].call.rsplit(".", 1)[1])
    if name in ("zeros", "ones"):
        return builder
    return builder(**arguments)


def _recorders(plan: _LayerPlan, requested: Callable | None) -> dict[str, _RecordingInitializer]:
    """Return the recording initializers to pass to the layer's constructor, by argument.

    For `default`, every initializer argument keeps its own default, read from the layer's
    signature, and all of them are recorded. The one that reached the tensor is found after the
    layer is built. A layer that falls back from one argument to another is therefore read as
    it is, not assumed: MultiHeadAttention uses kernel_init when out_kernel_init is None.
    """
    signature = inspect.signature(plan.cls.__init__).parameters
    if requested is None:
        return {
            name: _RecordingInitializer(parameter.default)
            for name, parameter in signature.items()
            if name.endswith("_init") and callable(parameter.default)
        }
    if plan.shared_call is not None:
        own_default = signature[plan.init_argument].default
        return {
            plan.init_argument: _RecordingInitializer(own_default, requested, plan.shared_call)
        }
    return {plan.init_argument: _RecordingInitializer(requested)}


def _calls_behind(jnp, parts: list[Any], recorders: dict[str, _RecordingInitializer]):
    """Find, for each parameter part, the recorded call whose result it contains."""
    calls = [call for recorder in recorders.values() for call in recorder.calls]
    used: set[int] = set()
    found = []
    for part in parts:
        value = np.asarray(jnp.asarray(part, dtype=jnp.float32))
        for index, call in enumerate(calls):
            if index in used or math.prod(call.shape) != value.size:
                continue
            result = np.asarray(jnp.asarray(call.result, dtype=jnp.float32)).reshape(value.shape)
            if np.array_equal(result, value, equal_nan=True):
                used.add(index)
                found.append(call)
                break
        else:
            raise RuntimeError("no recorded initializer call produced the requested parameter")
    return found


def _dtype(jnp, name: str):
    dtypes = {"float32": jnp.float32, "float16": jnp.float16, "bfloat16": jnp.bfloat16}
    if name not in dtypes:
        raise NoCounterpartError(f"dtype {name!r} is not one of {', '.join(dtypes)}")
    return dtypes[name]


@dataclass
class _DrawFacts:
    """The facts read from a draw's first layer: fans, reference, call and native shape."""

    fans: tuple[int | float | None, int | float | None]
    reference: dict[str, Any]
    initializer_call: str
    native_shape: tuple[int, ...]


def _read_first_layer(
    jax, compute_fans, request: DrawRequest, plan: _LayerPlan, requested, parts, recorders
) -> _DrawFacts:
    """Find which initializer call built the tensor and read its fans and reference."""
    import jax.numpy as jnp

    calls = _calls_behind(jnp, parts, recorders)
    if plan.shared_call is not None and requested is not None:
        if any(call.initializer is not requested for call in calls):
            raise RuntimeError(
                f"flax.nnx.{plan.cls.__name__} no longer builds query, key and value in that "
                "order, so the requested initializer reached another projection"
            )
    if len({(id(call.initializer), call.shape) for call in calls}) != 1:
        raise RuntimeError(
            f"the parts of {request.layer}.{request.tensor} were initialised by different "
            "initializers or shapes"
        )
    call = calls[0]
    builder, parameters = _describe(jax, call.initializer)
    fans = _fans(compute_fans, builder, parameters, call.shape)
    reference = _reference(builder, parameters, call.shape, fans, len(calls))

    if requested is None:
        argument = next(
            name for name, recorder in recorders.items() if any(c is call for c in recorder.calls)
        )
        initializer_call = (
            f"flax.nnx.{plan.cls.__name__} default {argument}: {_render(builder, parameters)}"
        )
    elif request.initializer in ("zeros", "ones"):
        initializer_call = initializers[request.initializer].call
    else:
        rendered = ", ".join(f"{k}={v!r}" for k, v in request.arguments.items())
        initializer_call = f"{initializers[request.initializer].call}({rendered})"

    native_shape = tuple(parts[0].shape) if len(parts) == 1 else (len(parts), *parts[0].shape)
    return _DrawFacts(fans, reference, initializer_call, native_shape)


def draw(request: DrawRequest) -> Draw:
    import flax
    import jax
    import jax.numpy as jnp
    import jaxlib
    from flax import nnx

    # The helper JAX's variance-scaling initializers call to get their fans.
    from jax._src.nn.initializers import _compute_fans

    from adapters.catalogue import LAYERS

    if request.layer not in LAYERS or request.tensor not in LAYERS[request.layer].tensors:
        raise NoCounterpartError(f"{request.layer}.{request.tensor} is not in the catalogue")
    sizes = LAYERS[request.layer].arguments(dict(request.layer_arguments))
    plan = _layer_plan(nnx, request.layer, sizes, request.tensor)
    param_dtype = _dtype(jnp, request.dtype)
    requested = (
        None
        if request.initializer == "default"
        else _requested_initializer(jax, request.initializer, dict(request.arguments))
    )

    rngs = nnx.Rngs(params=request.seed)
    facts = None
    weights = None
    previous = None
    for index in range(request.layers):
        recorders = _recorders(plan, requested)
        layer = plan.cls(**plan.arguments, **recorders, param_dtype=param_dtype, rngs=rngs)
        parts = [part[...] for part in plan.parts(layer)]
        current = plan.to_canonical(
            [np.asarray(jnp.asarray(part, dtype=jnp.float32)) for part in parts]
        )
        if facts is None:
            facts = _read_first_layer(
                jax, _compute_fans, request, plan, requested, parts, recorders
            )
            weights = np.empty((request.layers, *current.shape), dtype=np.float32)

        weights[index] = current
        # Constant initializers repeat by design: every layer is the same.
        if facts.reference["family"] != "constant":
            require_fresh(previous, weights[index], facts.initializer_call)
        previous = weights[index]

    return Draw(
        weights=weights,
        fan_in=facts.fans[0],
        fan_out=facts.fans[1],
        reference=facts.reference,
        native_shape=facts.native_shape,
        layer_class=f"flax.nnx.{plan.cls.__name__}",
        initializer_call=facts.initializer_call,
        versions={
            "jax": jax.__version__,
            "flax": flax.__version__,
            "jaxlib": jaxlib.__version__,
        },
    )
