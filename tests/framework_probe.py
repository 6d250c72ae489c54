"""Ask one framework runtime for its own fans and tensors; run by tests/test_adapters.py.

Usage: ``python tests/framework_probe.py FRAMEWORK BACKEND SEED LAYERS OUT_DIR``, where BACKEND
is ``-`` for torch. The script runs in its own process because Keras fixes its backend at
import. For every case in CASES (a layer and one of its tensors) it writes to ``probe.json``:

- ``named`` and ``default``: the fans the framework computed while it initialised the tensor,
  in a layer the probe builds itself, first with NAMED_INITIALIZERS and then with the layer's
  own default. PyTorch's fans are recorded from calls to
  ``torch.nn.init._calculate_fan_in_and_fan_out`` on a tensor that shares the requested
  tensor's storage; Keras' from calls to ``compute_fans`` for a shape equal to the variable's.
  When the initializer computed no fans (uniform_, normal_, RandomNormal, Zeros, ...), the
  probe applies the same fan function to the tensor itself, as the adapters do.
- ``requested`` and ``changed``: the name of the native tensor that contains the requested one,
  and the names of the native tensors that the adapter's draw changed.

It also saves two arrays per case: ``<case>_adapter.npy`` is the adapter's canonical draw with
the named initializer, and ``<case>_native.npy`` is the native tensor of the adapter's own layer
after that draw (for PyTorch's attention query, key and value, the whole in_proj_weight).

Importing this module imports no framework, so the tests share CASES with it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from adapters.catalogue import LAYERS as CATALOGUE  # noqa: E402

# Label -> (layer kind, size arguments). Sizes differ between in and out wherever the layer
# allows it, so that a swapped axis changes a shape or a fan.
LAYER_SIZES = {
    "dense": ("dense", {"in": 16, "out": 8}),
    "conv1d": ("conv1d", {"in": 6, "out": 4, "kernel": 3}),
    "conv2d": ("conv2d", {"in": 6, "out": 4, "kernel": 3}),
    "conv2d_groups": ("conv2d", {"in": 6, "out": 4, "kernel": 3, "groups": 2}),
    "conv3d": ("conv3d", {"in": 4, "out": 6, "kernel": 2}),
    "conv_transpose1d": ("conv_transpose1d", {"in": 6, "out": 4, "kernel": 3}),
    "conv_transpose2d": ("conv_transpose2d", {"in": 4, "out": 6, "kernel": 3}),
    "depthwise_conv2d": ("depthwise_conv2d", {"in": 3, "multiplier": 2, "kernel": 3}),
    "embedding": ("embedding", {"num": 10, "dim": 6}),
    "lstm": ("lstm", {"in": 5, "hidden": 3}),
    "gru": ("gru", {"in": 5, "hidden": 3}),
    "attention": ("attention", {"dim": 8, "heads": 2}),
}

# Case name "<label>.<tensor>" -> (layer kind, size arguments with the optional ones, tensor).
CASES = {
    f"{label}.{tensor}": (kind, CATALOGUE[kind].arguments(sizes), tensor)
    for label, (kind, sizes) in LAYER_SIZES.items()
    for tensor in CATALOGUE[kind].tensors
}

# Framework -> (initializer for tensors of 2 or more dimensions, initializer for 1-D tensors).
# The variance-scaling one cannot take a 1-D tensor in PyTorch, which has no fans for it.
NAMED_INITIALIZERS = {
    "torch": ("kaiming_normal", "normal"),
    "keras": ("he_normal", "random_normal"),
}

_ATTENTION_BLOCKS = ("query", "key", "value")


def named_initializer(framework: str, case: str) -> str:
    """Return the initializer the probe and the worker draw `case` with on `framework`."""
    kind, sizes, tensor = CASES[case]
    dimensions = len(CATALOGUE[kind].tensors[tensor][1](sizes))
    matrix, vector = NAMED_INITIALIZERS[framework]
    return matrix if dimensions >= 2 else vector


def layer_text(case: str) -> str:
    """Return the layer string, as `harness.specs.parse_layer` reads it, for `case`."""
    kind, sizes, tensor = CASES[case]
    arguments = ",".join(f"{name}={value}" for name, value in sizes.items())
    return f"{kind}({arguments}).{tensor}"


def _resolve(root, path: str):
    for name in path.split("."):
        root = getattr(root, name)
    return root


# PyTorch -----------------------------------------------------------------------------------


def torch_parameter(kind: str, tensor: str) -> str:
    """Return the attribute path of the PyTorch parameter that contains `tensor`."""
    if kind in ("lstm", "gru"):
        return {
            "kernel": "weight_ih_l0",
            "recurrent_kernel": "weight_hh_l0",
            "bias": "bias_ih_l0",
        }[tensor]
    if kind == "attention":
        return "out_proj.weight" if tensor == "output" else "in_proj_weight"
    if kind == "embedding":
        return "weight"
    return "weight" if tensor == "kernel" else "bias"


def _torch_layer(torch, kind: str, sizes: dict[str, int]):
    nn = torch.nn
    if kind == "dense":
        return nn.Linear(sizes["in"], sizes["out"])
    if kind.startswith("conv"):
        rank = kind[-2]
        cls = getattr(nn, f"ConvTranspose{rank}d" if "transpose" in kind else f"Conv{rank}d")
        return cls(sizes["in"], sizes["out"], sizes["kernel"], groups=sizes["groups"])
    if kind == "depthwise_conv2d":
        channels = sizes["in"]
        return nn.Conv2d(
            channels, channels * sizes["multiplier"], sizes["kernel"], groups=channels
        )
    if kind == "embedding":
        return nn.Embedding(sizes["num"], sizes["dim"])
    if kind in ("lstm", "gru"):
        return getattr(nn, kind.upper())(sizes["in"], sizes["hidden"])
    return nn.MultiheadAttention(sizes["dim"], sizes["heads"])


def _torch_target(layer, kind: str, tensor: str):
    parameter = _resolve(layer, torch_parameter(kind, tensor))
    if kind == "attention" and tensor in _ATTENTION_BLOCKS:
        dim = layer.embed_dim
        start = _ATTENTION_BLOCKS.index(tensor) * dim
        return parameter[start : start + dim]
    return parameter


class _RecordingTorchFans:
    """Record every tensor that `torch.nn.init._calculate_fan_in_and_fan_out` receives."""

    def __init__(self, torch):
        self.init = torch.nn.init
        self.original = torch.nn.init._calculate_fan_in_and_fan_out
        self.tensors = []

    def __enter__(self):
        def recording(weight):
            self.tensors.append(weight)
            return self.original(weight)

        self.init._calculate_fan_in_and_fan_out = recording
        return self

    def __exit__(self, *exception):
        self.init._calculate_fan_in_and_fan_out = self.original


def _torch_fans(kind: str, sizes: dict[str, int], tensor: str, initializer: str | None) -> dict:
    """Record the fans PyTorch computes while it initialises `tensor`, named or by default."""
    import torch

    with torch.no_grad():
        if initializer is None:
            # The constructor runs the layer's own reset.
            with _RecordingTorchFans(torch) as recorded:
                layer = _torch_layer(torch, kind, sizes)
            target = _torch_target(layer, kind, tensor)
        else:
            layer = _torch_layer(torch, kind, sizes)
            target = _torch_target(layer, kind, tensor)
            with _RecordingTorchFans(torch) as recorded:
                getattr(torch.nn.init, f"{initializer}_")(target)

    fan_function = recorded.original
    storage = target.untyped_storage().data_ptr()
    fans = {fan_function(w) for w in recorded.tensors if w.untyped_storage().data_ptr() == storage}
    if len(fans) > 1:
        raise RuntimeError(f"{kind}.{tensor}: PyTorch computed several fans {sorted(fans)}")
    if fans:
        fan_in, fan_out = fans.pop()
        return {"fan_in": int(fan_in), "fan_out": int(fan_out), "fans_from": "initializer"}
    if target.dim() < 2:
        return {"fan_in": None, "fan_out": None, "fans_from": "tensor"}
    fan_in, fan_out = fan_function(target)
    return {"fan_in": int(fan_in), "fan_out": int(fan_out), "fans_from": "tensor"}


def _torch_snapshot(layer) -> dict[str, np.ndarray]:
    """Copy every parameter, with in_proj_weight split into its query, key and value blocks."""
    snapshot = {}
    for name, parameter in layer.named_parameters():
        values = parameter.detach().float().cpu().numpy().copy()
        if name == "in_proj_weight":
            for block, rows in zip(_ATTENTION_BLOCKS, np.split(values, 3), strict=True):
                snapshot[f"{name}.{block}"] = rows
        else:
            snapshot[name] = values
    return snapshot


# Keras -------------------------------------------------------------------------------------


def keras_variable(kind: str, tensor: str) -> str:
    """Return the attribute path, from the Keras layer, of the variable that contains `tensor`."""
    if kind in ("lstm", "gru"):
        return f"cell.{tensor}"
    if kind == "attention":
        return f"{tensor}_dense.kernel"
    if kind == "embedding":
        return "embeddings"
    return tensor


def _keras_argument(kind: str, tensor: str) -> str:
    if kind == "embedding":
        return "embeddings_initializer"
    if tensor == "bias":
        return "bias_initializer"
    if tensor == "recurrent_kernel":
        return "recurrent_initializer"
    if kind == "depthwise_conv2d":
        return "depthwise_initializer"
    return "kernel_initializer"


def _keras_layer(keras, kind: str, sizes: dict[str, int], options: dict):
    layers = keras.layers
    if kind == "dense":
        layer = layers.Dense(sizes["out"], **options)
        layer.build((None, sizes["in"]))
    elif kind.startswith("conv"):
        rank = int(kind[-2])
        if "transpose" in kind:
            cls = getattr(layers, f"Conv{rank}DTranspose")
        else:
            cls = getattr(layers, f"Conv{rank}D")
            options = {**options, "groups": sizes["groups"]}
        layer = cls(sizes["out"], sizes["kernel"], **options)
        layer.build((None, *(None,) * rank, sizes["in"]))
    elif kind == "depthwise_conv2d":
        layer = layers.DepthwiseConv2D(
            sizes["kernel"], depth_multiplier=sizes["multiplier"], **options
        )
        layer.build((None, None, None, sizes["in"]))
    elif kind == "embedding":
        layer = layers.Embedding(sizes["num"], sizes["dim"], **options)
        layer.build()
    elif kind in ("lstm", "gru"):
        layer = getattr(layers, kind.upper())(sizes["hidden"], **options)
        layer.build((None, None, sizes["in"]))
    else:
        dim = sizes["dim"]
        layer = layers.MultiHeadAttention(
            num_heads=sizes["heads"], key_dim=dim // sizes["heads"], **options
        )
        layer.build((None, None, dim), (None, None, dim))
    return layer


def _keras_fans(kind: str, sizes: dict[str, int], tensor: str, initializer: str | None) -> dict:
    """Record the fans Keras computes while it initialises `tensor`, named or by default."""
    import keras
    from keras.src.initializers import random_initializers

    options = {}
    if initializer is not None:
        options[_keras_argument(kind, tensor)] = keras.initializers.get(initializer)
        if kind == "lstm" and tensor == "bias":
            # As in the adapter: the named initializer gets the whole bias, no forget-gate ones.
            options["unit_forget_bias"] = False

    calls = []
    original = random_initializers.compute_fans

    def recording(shape, input_axes=None, output_axes=None):
        fans = original(shape, input_axes=input_axes, output_axes=output_axes)
        calls.append((tuple(int(d) for d in shape), fans))
        return fans

    random_initializers.compute_fans = recording
    try:
        layer = _keras_layer(keras, kind, sizes, options)
    finally:
        random_initializers.compute_fans = original

    shape = tuple(int(d) for d in _resolve(layer, keras_variable(kind, tensor)).shape)
    fans = {result for call_shape, result in calls if call_shape == shape}
    if len(fans) > 1:
        raise RuntimeError(f"{kind}.{tensor}: Keras computed several fans {sorted(fans)}")
    source = "initializer" if fans else "tensor"
    fan_in, fan_out = fans.pop() if fans else original(shape)
    return {"fan_in": int(fan_in), "fan_out": int(fan_out), "fans_from": source}


# Both frameworks ---------------------------------------------------------------------------


class _Recorder:
    """Capture the adapter's layer and the native tensors its draw changes."""

    def __init__(self, framework: str, adapter):
        self.framework = framework
        self.layer = None
        self.before: dict[str, np.ndarray] = {}
        self.assigned: set[str] = set()
        if framework == "torch":
            build = adapter._build_layer

            def recording_build(*arguments, **options):
                self.layer = build(*arguments, **options)
                self.before = _torch_snapshot(self.layer)
                return self.layer

            adapter._build_layer = recording_build
        else:
            import keras

            create = adapter._new_layer

            def recording_create(*arguments, **options):
                self.layer, shapes = create(*arguments, **options)
                return self.layer, shapes

            adapter._new_layer = recording_create
            assign = keras.Variable.assign

            def recording_assign(variable, value):
                self.assigned.add(variable.path)
                return assign(variable, value)

            keras.Variable.assign = recording_assign

    def start(self) -> None:
        self.layer, self.before, self.assigned = None, {}, set()

    def requested_and_changed(self, kind: str, tensor: str) -> tuple[str, list[str]]:
        if self.framework == "torch":
            requested = torch_parameter(kind, tensor)
            if kind == "attention" and tensor in _ATTENTION_BLOCKS:
                requested = f"{requested}.{tensor}"
            after = _torch_snapshot(self.layer)
            changed = [
                name for name in after if not np.array_equal(after[name], self.before[name])
            ]
            return requested, sorted(changed)
        requested = _resolve(self.layer, keras_variable(kind, tensor)).path
        # SeedGenerator states are variables too, so keep only the layer's own weights.
        weights = {variable.path for variable in self.layer.weights}
        return requested, sorted(self.assigned & weights)

    def native(self, kind: str, tensor: str) -> np.ndarray:
        if self.framework == "torch":
            parameter = _resolve(self.layer, torch_parameter(kind, tensor))
            return parameter.detach().float().cpu().numpy()
        import keras

        variable = _resolve(self.layer, keras_variable(kind, tensor))
        return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)


def main(framework: str, backend: str, seed: int, layers: int, out_dir: Path) -> None:
    if framework == "keras":
        os.environ["KERAS_BACKEND"] = backend

    from adapters import DrawRequest, adapter_for

    adapter = adapter_for(framework)
    recorder = _Recorder(framework, adapter)
    fans = _torch_fans if framework == "torch" else _keras_fans

    report = {}
    # Reversed, so that the draws run in another order than the worker's: a draw that depends
    # on earlier draws in its process no longer matches.
    for case, (kind, sizes, tensor) in reversed(CASES.items()):
        named = named_initializer(framework, case)
        entry = {
            "named": fans(kind, sizes, tensor, named),
            "default": fans(kind, sizes, tensor, None),
        }
        recorder.start()
        request = DrawRequest(
            initializer=named,
            arguments={},
            layer=kind,
            layer_arguments=sizes,
            layers=layers,
            seed=seed,
            backend=None if backend == "-" else backend,
            tensor=tensor,
        )
        draw = adapter.draw(request)
        native = recorder.native(kind, tensor)
        entry["requested"], entry["changed"] = recorder.requested_and_changed(kind, tensor)
        entry["native_shape"] = list(native.shape)
        np.save(out_dir / f"{case}_adapter.npy", draw.weights)
        np.save(out_dir / f"{case}_native.npy", native)
        report[case] = entry

    (out_dir / "probe.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
