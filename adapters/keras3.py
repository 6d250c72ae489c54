"""Keras 3 adapter: `keras.layers` built once, re-initialised through `kernel_initializer`.

The backend (tensorflow, jax or torch) is fixed when Keras is imported, so the worker process
sets `KERAS_BACKEND` before importing it. Keras initializers seeded with an integer, or not
seeded at all, return the same values on every call; the adapter therefore gives each
initializer a `keras.random.SeedGenerator`, whose state advances with every draw. Kernels are
stored as (*kernel, in, out) and transposed to the canonical (out, in, *kernel).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adapters.base import Draw, DrawRequest, InitializerInfo, require_fresh

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
    "default": InitializerInfo("the layer's default kernel_initializer"),
}

# Arguments whose valid values are a fixed set, checked before any worker starts.
choices = {
    "mode": ("fan_in", "fan_out", "fan_avg"),
    "distribution": ("truncated_normal", "untruncated_normal", "normal", "uniform"),
}

# Arguments that must be numbers.
numeric = ("scale", "mean", "stddev", "minval", "maxval", "gain")


def _build_layer(keras: Any, kind: str, arguments: dict[str, int], initializer: Any) -> Any:
    options = {} if initializer is None else {"kernel_initializer": initializer}
    if kind == "dense":
        layer = keras.layers.Dense(arguments["out"], **options)
        layer.build((None, arguments["in"]))
    elif kind == "conv2d":
        layer = keras.layers.Conv2D(arguments["out"], arguments["kernel"], **options)
        layer.build((None, None, None, arguments["in"]))
    else:
        raise ValueError(f"layer {kind!r} has no Keras counterpart in this adapter")
    return layer


def _with_seed_generator(keras: Any, initializer: Any, seed: int) -> Any:
    """Rebuild `initializer` with a SeedGenerator so that every call draws new values."""
    config = initializer.get_config()
    config["seed"] = keras.random.SeedGenerator(seed)
    return type(initializer).from_config(config)


def _reference(initializer: Any, fan_in: int, fan_out: int, shape: tuple) -> dict[str, Any]:
    """Return the distribution Keras documents for this initializer instance."""
    from keras import initializers as keras_initializers

    from harness.references import Normal, Orthogonal, TruncatedNormal, Uniform

    if isinstance(initializer, keras_initializers.VarianceScaling):
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
        # Keras flattens the kernel to (prod(shape[:-1]), shape[-1]); rows and columns are
        # reported in the canonical orientation (out, in * kernel), the transpose.
        reference = Orthogonal(float(initializer.gain), shape[-1], math.prod(shape[:-1]))
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


def draw(request: DrawRequest) -> Draw:
    import keras
    from keras.src.initializers.random_initializers import compute_fans

    keras.utils.set_random_seed(request.seed)
    arguments = dict(request.layer_arguments)

    if request.initializer == "default":
        layer = _build_layer(keras, request.layer, arguments, None)
    else:
        info = initializers[request.initializer]
        cls = getattr(keras.initializers, info.call.rsplit(".", 1)[1])
        layer = _build_layer(keras, request.layer, arguments, cls(**request.arguments))
    initializer = _with_seed_generator(keras, layer.kernel_initializer, request.seed)

    kernel = layer.kernel
    shape = tuple(int(d) for d in kernel.shape)
    fan_in, fan_out = compute_fans(
        shape,
        input_axes=getattr(initializer, "input_axes", None),
        output_axes=getattr(initializer, "output_axes", None),
    )
    rendered = ", ".join(f"{k}={v!r}" for k, v in request.arguments.items())
    call = f"keras.initializers.{type(initializer).__name__}({rendered})"

    # (*kernel, in, out) -> (out, in, *kernel)
    axes = (len(shape) - 1, len(shape) - 2, *range(len(shape) - 2))
    weights = np.empty((request.layers, *(shape[a] for a in axes)), dtype=np.float32)
    previous = None
    for index in range(request.layers):
        kernel.assign(initializer(shape, dtype=kernel.dtype))
        weights[index] = np.transpose(keras.ops.convert_to_numpy(kernel), axes)
        require_fresh(previous, weights[index], call)
        previous = weights[index]

    backend = keras.backend.backend()
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    versions = {"keras": keras.__version__, backend_module: _version(backend_module)}
    return Draw(
        weights=weights,
        fan_in=int(fan_in),
        fan_out=int(fan_out),
        reference=_reference(initializer, int(fan_in), int(fan_out), shape),
        native_shape=shape,
        layer_class=f"keras.layers.{type(layer).__name__}",
        initializer_call=call,
        versions=versions,
    )


def _version(distribution: str) -> str:
    from importlib import metadata

    names = {"tensorflow": ("tensorflow-cpu", "tensorflow")}.get(distribution, (distribution,))
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"
