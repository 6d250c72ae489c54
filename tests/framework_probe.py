"""Ask one framework runtime for its own fans and kernels; run by tests/test_adapters.py.

Usage: ``python tests/framework_probe.py FRAMEWORK BACKEND SEED LAYERS OUT_DIR``, where BACKEND
is ``-`` for torch. The script runs in its own process because Keras fixes its backend at
import. For each layer kind, it writes to ``probe.json`` the fans and the native kernel shape that
the framework computes for a layer it builds itself. It also saves two arrays per kind:
``<kind>_adapter.npy`` is the adapter's canonical draw, and ``<kind>_kernel.npy`` is the kernel
of the adapter's own layer object after that draw, in the framework's native layout.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

# The layers the adapter tests use. The worker draws dense first, and the probe draws conv2d
# first, so a draw that depends on earlier draws in its process no longer matches the worker's.
LAYERS = {
    "conv2d": {"in": 6, "out": 4, "kernel": 3},
    "dense": {"in": 16, "out": 8},
}
INITIALIZERS = {"torch": "kaiming_normal", "keras": "he_normal"}


def _torch_layer(torch, kind: str, sizes: dict[str, int]):
    if kind == "dense":
        return torch.nn.Linear(sizes["in"], sizes["out"])
    return torch.nn.Conv2d(sizes["in"], sizes["out"], sizes["kernel"])


def _framework_fans_torch(kind: str, sizes: dict[str, int]) -> dict:
    import torch

    weight = _torch_layer(torch, kind, sizes).weight
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(weight)
    return {"fan_in": int(fan_in), "fan_out": int(fan_out), "native_shape": list(weight.shape)}


def _keras_layer(keras, kind: str, sizes: dict[str, int]):
    if kind == "dense":
        layer = keras.layers.Dense(sizes["out"])
        layer.build((None, sizes["in"]))
    else:
        layer = keras.layers.Conv2D(sizes["out"], sizes["kernel"])
        layer.build((None, None, None, sizes["in"]))
    return layer


def _framework_fans_keras(kind: str, sizes: dict[str, int]) -> dict:
    import keras
    from keras.src.initializers.random_initializers import compute_fans

    shape = tuple(int(d) for d in _keras_layer(keras, kind, sizes).kernel.shape)
    fan_in, fan_out = compute_fans(shape)
    return {"fan_in": int(fan_in), "fan_out": int(fan_out), "native_shape": list(shape)}


def _capture_layers(adapter) -> list:
    """Wrap the adapter's layer builder so that the test can read the layer's own kernel."""
    built = []
    build = adapter._build_layer

    def recording_build(*arguments, **options):
        layer = build(*arguments, **options)
        built.append(layer)
        return layer

    adapter._build_layer = recording_build
    return built


def _native_kernel(framework: str, layer) -> np.ndarray:
    if framework == "torch":
        return layer.weight.detach().cpu().numpy()
    import keras

    return keras.ops.convert_to_numpy(layer.kernel)


def main(framework: str, backend: str, seed: int, layers: int, out_dir: Path) -> None:
    if framework == "keras":
        os.environ["KERAS_BACKEND"] = backend

    from adapters import DrawRequest, adapter_for

    adapter = adapter_for(framework)
    built = _capture_layers(adapter)
    fans = _framework_fans_torch if framework == "torch" else _framework_fans_keras

    report = {}
    for kind, sizes in LAYERS.items():
        report[kind] = fans(kind, sizes)
        request = DrawRequest(
            initializer=INITIALIZERS[framework],
            arguments={},
            layer=kind,
            layer_arguments=sizes,
            layers=layers,
            seed=seed,
            backend=None if backend == "-" else backend,
        )
        draw = adapter.draw(request)
        np.save(out_dir / f"{kind}_adapter.npy", draw.weights)
        np.save(out_dir / f"{kind}_kernel.npy", _native_kernel(framework, built[-1]))

    (out_dir / "probe.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
