"""Keras 3 adapter: `keras.layers` built once, the requested tensor re-initialised per draw.

The backend (tensorflow, jax or torch) is fixed when Keras is imported, so the worker process
sets `KERAS_BACKEND` before importing it. The requested initializer goes through the layer
argument that initialises the requested tensor (kernel_initializer, recurrent_initializer, ...).

While the layer builds, the adapter records the initializer object and the shape that
`Layer.add_weight` receives for that tensor. Some layers pass something other than their own
attribute there. EinsumDense, inside MultiHeadAttention, clones a variance-scaling initializer
with the einsum's input and output axes, and LSTMCell wraps its bias initializer to add the
forget-gate ones. Each draw calls the recorded initializer again and assigns the result to the
variable.

Keras initializers seeded with an integer, or not seeded at all, return the same values on
every call; the adapter therefore rebuilds every random initializer with a
`keras.random.SeedGenerator`, whose state advances with every draw. Weights are mapped from
Keras' layouts, for example (*kernel, in, out), to the canonical ones in `adapters.catalogue`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from adapters.base import Draw, DrawRequest, InitializerInfo, NoCounterpartError, require_fresh
from adapters.catalogue import canonical_shape

framework = "keras"
backends: tuple[str | None, ...] = (None, "tensorflow", "jax", "torch")
# The side `keras` means the tensorflow backend, Keras' own default.
DEFAULT_BACKEND = "tensorflow"
packages = {
    None: ("keras", "tensorflow"),
    "tensorflow": ("keras", "tensorflow"),
    "jax": ("keras", "jax"),
    "torch": ("keras", "torch"),
}

_VARIANCE_SCALING = ("scale", "mode", "distribution")
initializers = {
    "he_normal": InitializerInfo(
        "keras.initializers.HeNormal", (), "truncated normal, std sqrt(2/fan_in)"
    ),
    "he_uniform": InitializerInfo(
        "keras.initializers.HeUniform", (), "uniform, bound sqrt(6/fan_in)"
    ),
    "glorot_normal": InitializerInfo(
        "keras.initializers.GlorotNormal", (), "truncated normal, std sqrt(2/(fan_in+fan_out))"
    ),
    "glorot_uniform": InitializerInfo(
        "keras.initializers.GlorotUniform", (), "uniform, bound sqrt(6/(fan_in+fan_out))"
    ),
    "lecun_normal": InitializerInfo(
        "keras.initializers.LecunNormal", (), "truncated normal, std sqrt(1/fan_in)"
    ),
    "lecun_uniform": InitializerInfo(
        "keras.initializers.LecunUniform", (), "uniform, bound sqrt(3/fan_in)"
    ),
    "variance_scaling": InitializerInfo(
        "keras.initializers.VarianceScaling",
        _VARIANCE_SCALING,
        "the general variance-scaling rule",
    ),
    "random_normal": InitializerInfo("keras.initializers.RandomNormal", ("mean", "stddev")),
    "truncated_normal": InitializerInfo(
        "keras.initializers.TruncatedNormal",
        ("mean", "stddev"),
        "normal cut at 2 stddev, no variance correction",
    ),
    "random_uniform": InitializerInfo("keras.initializers.RandomUniform", ("minval", "maxval")),
    "orthogonal": InitializerInfo(
        "keras.initializers.Orthogonal", ("gain",), "(semi-)orthogonal matrix, times gain"
    ),
    "constant": InitializerInfo(
        "keras.initializers.Constant", ("value",), "every weight equals value"
    ),
    "zeros": InitializerInfo("keras.initializers.Zeros", (), "every weight equals 0"),
    "ones": InitializerInfo("keras.initializers.Ones", (), "every weight equals 1"),
    "default": InitializerInfo("the layer's default initializer for the requested tensor"),
}

# Arguments whose valid values are a fixed set, checked before any worker starts.
choices = {
    "mode": ("fan_in", "fan_out", "fan_avg"),
    "distribution": ("truncated_normal", "untruncated_normal", "normal", "uniform"),
}

# Arguments that must be numbers.
numeric = ("scale", "mean", "stddev", "minval", "maxval", "gain", "value")

# Combinations this adapter reports as skipped, for `init-harness list`.
no_counterpart = {
    "conv_transpose1d/2d with groups != 1": "Keras' transposed convolutions take no groups",
    "lstm/gru in float16 or bfloat16": (
        "the default orthogonal recurrent initializer needs a QR decomposition that some "
        "backends lack at half precision"
    ),
}

_DTYPES = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class _TensorSource:
    """Location of a canonical tensor in a Keras layer.

    `argument` is the layer constructor argument that sets the tensor's initializer, `owner`
    finds the (sub)layer that creates the variable, and `variable` is the name that layer gives
    `add_weight`.
    """

    argument: str
    owner: Callable[[Any], Any]
    variable: str


def _itself(layer: Any) -> Any:
    return layer


def _cell(layer: Any) -> Any:
    return layer.cell


def _plain(argument: str = "kernel_initializer") -> dict[str, _TensorSource]:
    return {
        "kernel": _TensorSource(argument, _itself, "kernel"),
        "bias": _TensorSource("bias_initializer", _itself, "bias"),
    }


_RECURRENT = {
    "kernel": _TensorSource("kernel_initializer", _cell, "kernel"),
    "recurrent_kernel": _TensorSource("recurrent_initializer", _cell, "recurrent_kernel"),
    "bias": _TensorSource("bias_initializer", _cell, "bias"),
}

# MultiHeadAttention has one kernel_initializer for all four projections, each an EinsumDense.
_ATTENTION = {
    tensor: _TensorSource(
        "kernel_initializer", lambda layer, name=owner: getattr(layer, name), "kernel"
    )
    for tensor, owner in (
        ("query", "query_dense"),
        ("key", "key_dense"),
        ("value", "value_dense"),
        ("output", "output_dense"),
    )
}

_SOURCES: dict[str, dict[str, _TensorSource]] = {
    "dense": _plain(),
    "conv1d": _plain(),
    "conv2d": _plain(),
    "conv3d": _plain(),
    "conv_transpose1d": _plain(),
    "conv_transpose2d": _plain(),
    "depthwise_conv2d": _plain("depthwise_initializer"),
    "embedding": {"embeddings": _TensorSource("embeddings_initializer", _itself, "embeddings")},
    "lstm": _RECURRENT,
    "gru": _RECURRENT,
    "attention": _ATTENTION,
}

_CONVOLUTIONS = {
    "conv1d": ("Conv1D", 1),
    "conv2d": ("Conv2D", 2),
    "conv3d": ("Conv3D", 3),
    "conv_transpose1d": ("Conv1DTranspose", 1),
    "conv_transpose2d": ("Conv2DTranspose", 2),
}


def _new_layer(
    keras: Any, kind: str, arguments: dict[str, int], options: dict[str, Any]
) -> tuple[Any, tuple]:
    """Create the unbuilt Keras layer for `kind` and the input shapes that build it.

    `options` contains the dtype and the initializer arguments.
    """
    layers = keras.layers
    if kind == "dense":
        return layers.Dense(arguments["out"], **options), ((None, arguments["in"]),)
    if kind in _CONVOLUTIONS:
        class_name, dimensions = _CONVOLUTIONS[kind]
        groups = arguments["groups"]
        if kind.startswith("conv_transpose"):
            if groups != 1:
                raise NoCounterpartError(f"keras.layers.{class_name} has no groups argument")
        else:
            options = {**options, "groups": groups}
        layer = getattr(layers, class_name)(arguments["out"], arguments["kernel"], **options)
        return layer, ((None, *(None,) * dimensions, arguments["in"]),)
    if kind == "depthwise_conv2d":
        layer = layers.DepthwiseConv2D(
            arguments["kernel"], depth_multiplier=arguments["multiplier"], **options
        )
        return layer, ((None, None, None, arguments["in"]),)
    if kind == "embedding":
        return layers.Embedding(arguments["num"], arguments["dim"], **options), ()
    if kind in ("lstm", "gru"):
        recurrent = layers.LSTM if kind == "lstm" else layers.GRU
        return recurrent(arguments["hidden"], **options), ((None, None, arguments["in"]),)
    if kind == "attention":
        dim = arguments["dim"]
        layer = layers.MultiHeadAttention(
            num_heads=arguments["heads"], key_dim=dim // arguments["heads"], **options
        )
        return layer, ((None, None, dim), (None, None, dim))
    raise NoCounterpartError(f"no Keras layer for {kind!r}")


@dataclass
class _AddedWeight:
    """One `add_weight` call: the layer that made it, its arguments, and the variable or error."""

    owner: Any
    name: str | None
    shape: tuple[int, ...]
    initializer: Any
    variable: Any = None
    error: Exception | None = None


@contextlib.contextmanager
def _recording_weights(keras: Any) -> Iterator[list[_AddedWeight]]:
    """Record every `Layer.add_weight` call made inside the block, with its initializer.

    Keras layers pass shape, initializer and name to add_weight as keywords, which the record
    relies on.
    """
    records: list[_AddedWeight] = []
    original = keras.layers.Layer.add_weight

    def add_weight(self, *arguments, **options):
        initializer = options.get("initializer")
        if isinstance(initializer, str):
            initializer = keras.initializers.get(initializer)
        shape = tuple(int(d) for d in options.get("shape") or ())
        record = _AddedWeight(self, options.get("name"), shape, initializer)
        records.append(record)
        try:
            record.variable = original(self, *arguments, **options)
        except Exception as error:
            record.error = error
            raise
        return record.variable

    keras.layers.Layer.add_weight = add_weight
    try:
        yield records
    finally:
        keras.layers.Layer.add_weight = original


def _to_canonical(kind: str, tensor: str, native: np.ndarray, arguments: dict[str, int]):
    """Map one native Keras tensor to the canonical layout of `adapters.catalogue`."""
    if kind == "embedding" or (tensor == "bias" and kind != "gru"):
        return native
    if kind in ("dense", "lstm"):
        # Keras LSTM gates (i, f, c, o) are PyTorch's (i, f, g, o): transposing is enough.
        return native.T
    if kind in _CONVOLUTIONS:
        # Conv: (*kernel, in / groups, out) -> (out, in / groups, *kernel). Transposed conv:
        # (*kernel, out, in) -> (in, out, *kernel), the same permutation.
        rank = native.ndim
        return np.transpose(native, (rank - 1, rank - 2, *range(rank - 2)))
    if kind == "depthwise_conv2d":
        # (kernel, kernel, in, multiplier) -> (in * multiplier, 1, kernel, kernel). Output
        # channel c * multiplier + m comes from input channel c, as in a grouped Conv2d.
        rows, cols, channels, multiplier = native.shape
        flat = native.reshape(rows, cols, channels * multiplier)
        return np.transpose(flat, (2, 0, 1))[:, np.newaxis]
    if kind == "gru":
        # With reset_after=True (the default, and PyTorch's formulation), the bias is
        # (2, 3 * units): the input bias, then the recurrent bias. `bias` is the input bias,
        # PyTorch's bias_ih_l0. Gates go from Keras' (z, r, h) to PyTorch's (r, z, n).
        if tensor == "bias":
            rows = native[0] if native.ndim == 2 else native
        else:
            rows = native.T
        update, reset, new = np.split(rows, 3, axis=0)
        return np.concatenate([reset, update, new], axis=0)
    if kind == "attention":
        # query, key, value: (dim, heads, head_dim); output: (heads, head_dim, dim). Flattening
        # the heads gives (in, out), with head h's unit d at h * head_dim + d, as in PyTorch.
        dim = arguments["dim"]
        return native.reshape(dim, dim).T
    raise NoCounterpartError(f"no canonical layout for Keras {kind}.{tensor}")


def _with_seed_generator(keras: Any, initializer: Any, seed: int) -> Any:
    """Rebuild a random `initializer` with a SeedGenerator so that every call draws new values.

    Initializers without a seed (Zeros, Ones, Constant, the LSTM forget-gate wrapper) return
    deterministic values and are returned as they are.
    """
    if not isinstance(initializer, keras.initializers.Initializer):
        return initializer
    config = initializer.get_config()
    if "seed" not in config:
        return initializer
    config["seed"] = keras.random.SeedGenerator(seed)
    return type(initializer).from_config(config)


def _constant_values(initializer: Any) -> float | None:
    """Return the value a Zeros, Ones or Constant initializer writes, or None for others."""
    from keras import initializers as keras_initializers

    if isinstance(initializer, keras_initializers.Zeros):
        return 0.0
    if isinstance(initializer, keras_initializers.Ones):
        return 1.0
    if isinstance(initializer, keras_initializers.Constant):
        return float(np.asarray(initializer.value))
    return None


def _reference(
    initializer: Any, fan_in: int, fan_out: int, shape: tuple, layer: Any, kind: str
) -> dict[str, Any]:
    """Return the distribution Keras documents for this initializer instance."""
    from keras import initializers as keras_initializers

    from harness.references import Constant, Normal, Orthogonal, TruncatedNormal, Uniform

    if not isinstance(initializer, keras_initializers.Initializer):
        # LSTMCell with unit_forget_bias=True wraps its bias initializer: the input, cell and
        # output gates come from bias_initializer (zeros by default), the forget gate is ones.
        inner = _constant_values(layer.cell.bias_initializer)
        if inner is None:
            raise ValueError(
                f"no reference for {initializer!r}: the LSTM forget-gate wrapper is only "
                f"described for a constant bias_initializer, not "
                f"{type(layer.cell.bias_initializer).__name__}"
            )
        # One value per gate block, in the canonical order (input, forget, cell, output), so
        # that the mean over the values is the mean over the bias.
        return Constant(None, (inner, 1.0, inner, inner)).to_dict()

    constant = _constant_values(initializer)
    if constant is not None:
        reference = Constant(constant)
    elif isinstance(initializer, keras_initializers.VarianceScaling):
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        variance = initializer.scale / max(1.0, fan[initializer.mode])
        std = math.sqrt(variance)
        if initializer.distribution == "truncated_normal":
            # Drawn at stddev / 0.8796 and cut at 2 of those, so the result has the full variance.
            reference = TruncatedNormal.variance_corrected_at(std)
        elif initializer.distribution == "untruncated_normal":
            reference = Normal(0.0, std)
        else:
            reference = Uniform.with_std(std)
    elif isinstance(initializer, keras_initializers.Orthogonal):
        # Keras orthogonalises the (prod(shape[:-1]), shape[-1]) flattening. For kernels the
        # canonical (out, in * kernel) matrix is its transpose, up to a column permutation; an
        # embedding keeps Keras' (num, dim) layout.
        # NOTE: for depthwise and attention kernels the canonical matrix is not the one Keras
        # orthogonalised, so only the element-wise marginal of this reference applies there.
        rows, cols = shape[-1], math.prod(shape[:-1])
        if kind == "embedding":
            rows, cols = cols, rows
        reference = Orthogonal(float(initializer.gain), rows, cols)
    elif isinstance(initializer, keras_initializers.TruncatedNormal):
        reference = TruncatedNormal.uncorrected_at(initializer.stddev, 2.0, initializer.mean)
    elif isinstance(initializer, keras_initializers.RandomNormal):
        reference = Normal(float(initializer.mean), float(initializer.stddev))
    elif isinstance(initializer, keras_initializers.RandomUniform):
        low, high = float(initializer.minval), float(initializer.maxval)
        reference = Uniform(0.5 * (low + high), 0.5 * (high - low))
    else:
        raise ValueError(f"no reference for {type(initializer).__name__}")
    return reference.to_dict()


def _layer_options(keras: Any, request: DrawRequest, source: _TensorSource) -> dict[str, Any]:
    """Return the constructor arguments that set the dtype and the requested initializer."""
    options: dict[str, Any] = {"dtype": request.dtype}
    if request.initializer == "default":
        return options
    info = initializers[request.initializer]
    cls = getattr(keras.initializers, info.call.rsplit(".", 1)[1])
    options[source.argument] = cls(**request.arguments)
    if request.layer == "lstm" and request.tensor == "bias":
        # With unit_forget_bias=True, LSTMCell calls bias_initializer on three pieces of the
        # bias and writes ones over the forget gate. Turning it off gives the requested
        # initializer the whole (4 * units,) bias.
        options["unit_forget_bias"] = False
    return options


def _raise_for_other_tensor(
    layer: Any, source: _TensorSource, records: list[_AddedWeight], request: DrawRequest, error
) -> None:
    """Raise NoCounterpartError when building failed on a tensor other than the requested one.

    Keras initialises every variable while building. A layer whose default initializer for
    another tensor fails at this dtype therefore cannot be built at all. For example,
    Orthogonal, the default recurrent initializer of LSTM and GRU, fails for lack of a QR
    decomposition in bfloat16 on tensorflow and in float16 and bfloat16 on jax and torch
    (Keras 3.15.1 on CPU). A failure on the requested tensor itself returns, so that the
    caller re-raises it as the initializer's own error.
    """
    failed = next((r for r in records if r.error is not None), None)
    if failed is None:
        return
    try:
        requested = source.owner(layer)
    except AttributeError:
        requested = None
    if failed.owner is requested and failed.name == source.variable:
        return
    initializer = type(failed.initializer).__name__
    raise NoCounterpartError(
        f"keras.layers.{type(layer).__name__} cannot be built in {request.dtype}: the "
        f"{initializer} initializer of its {failed.name} failed with "
        f"{type(error).__name__}: {str(error).splitlines()[0]}"
    ) from error


def draw(request: DrawRequest) -> Draw:
    import keras
    from keras.src.initializers.random_initializers import compute_fans

    if request.dtype not in _DTYPES:
        raise NoCounterpartError(
            f"unsupported dtype {request.dtype!r}; valid choices: {', '.join(_DTYPES)}"
        )
    sources = _SOURCES.get(request.layer)
    if sources is None or request.tensor not in sources:
        raise NoCounterpartError(f"no Keras tensor for {request.layer}.{request.tensor}")
    source = sources[request.tensor]

    keras.utils.set_random_seed(request.seed)
    arguments = dict(request.layer_arguments)
    options = _layer_options(keras, request, source)
    layer, input_shapes = _new_layer(keras, request.layer, arguments, options)
    with _recording_weights(keras) as records:
        try:
            layer.build(*input_shapes)
        except Exception as error:
            _raise_for_other_tensor(layer, source, records, request, error)
            raise
    owner = source.owner(layer)
    added = next(r for r in records if r.owner is owner and r.name == source.variable)
    initializer = _with_seed_generator(keras, added.initializer, request.seed)
    variable, shape = added.variable, added.shape

    fan_in, fan_out = compute_fans(
        shape,
        input_axes=getattr(initializer, "input_axes", None),
        output_axes=getattr(initializer, "output_axes", None),
    )
    call = _describe(keras, initializer, request, source)
    reference = _reference(initializer, int(fan_in), int(fan_out), shape, layer, request.layer)

    canonical = canonical_shape(request.layer, request.tensor, arguments)
    weights = np.empty((request.layers, *canonical), dtype=np.float32)
    previous = None
    for index in range(request.layers):
        variable.assign(initializer(shape, dtype=variable.dtype))
        native = np.asarray(keras.ops.convert_to_numpy(variable)).astype(np.float32)
        weights[index] = _to_canonical(request.layer, request.tensor, native, arguments)
        if reference["family"] != "constant":
            require_fresh(previous, weights[index], call)
        previous = weights[index]

    backend = keras.backend.backend()
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    versions = {"keras": keras.__version__, backend_module: _version(backend_module)}
    return Draw(
        weights=weights,
        fan_in=int(fan_in),
        fan_out=int(fan_out),
        reference=reference,
        native_shape=shape,
        layer_class=f"keras.layers.{type(layer).__name__}",
        initializer_call=call,
        versions=versions,
    )


def _describe(keras: Any, initializer: Any, request: DrawRequest, source: _TensorSource) -> str:
    """Describe the initializer call for the verdict file.

    A default is rendered with its whole configuration (seed left out), because nothing in the
    request names its arguments.
    """
    if not isinstance(initializer, keras.initializers.Initializer):
        return "LSTMCell bias_initializer wrapper for unit_forget_bias=True (forget gate ones)"
    if request.initializer == "default":
        config = initializer.get_config()
        arguments = {k: v for k, v in config.items() if k != "seed" and v is not None}
    else:
        arguments = dict(request.arguments)
    rendered = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    call = f"keras.initializers.{type(initializer).__name__}({rendered})"
    if request.initializer == "default":
        call += f", the layer's default {source.argument}"
    return call


def _version(distribution: str) -> str:
    from importlib import metadata

    names = {"tensorflow": ("tensorflow-cpu", "tensorflow")}.get(distribution, (distribution,))
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"
