"""Adapters against the real frameworks: fans, layouts, reference std and fresh draws.

Every side draws through `harness.runner.DrawRunner`, so each framework and Keras backend runs
in its own worker process, as in a real run. The expected fans and kernels come from the
frameworks themselves, through tests/framework_probe.py run once per runtime, never from
formulas repeated here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from adapters.base import RepeatedDrawError, require_fresh
from harness.runner import DrawKey, DrawRunner
from harness.specs import parse_layer, parse_side

REPOSITORY = Path(__file__).resolve().parents[1]
PROBE_SCRIPT = Path(__file__).resolve().parent / "framework_probe.py"
SEED = 20261204

# Side label -> He-normal side string. `keras` alone runs the tensorflow backend.
SIDES = {
    "torch": "torch:kaiming_normal",
    "keras": "keras:he_normal",
    "keras/jax": "keras/jax:he_normal",
    "keras/torch": "keras/torch:he_normal",
}
# Side label -> (framework, backend) as framework_probe.py takes them. "-" means no backend.
PROBE_RUNTIMES = {
    "torch": ("torch", "-"),
    "keras": ("keras", "tensorflow"),
    "keras/jax": ("keras", "jax"),
    "keras/torch": ("keras", "torch"),
}
# Package that the side's metadata must report a version for: the backend actually used.
BACKEND_PACKAGES = {
    "torch": "torch",
    "keras": "tensorflow",
    "keras/jax": "jax",
    "keras/torch": "torch",
}

# Layer kind -> layer string. framework_probe.py builds layers of the same sizes.
SHAPE_LAYERS = {
    "dense": "dense(in=16,out=8)",
    "conv2d": "conv2d(in=6,out=4,kernel=3)",
}
SHAPE_LAYER_COUNT = 3
CANONICAL_SHAPES = {"dense": (8, 16), "conv2d": (4, 6, 3, 3)}
NATIVE_SHAPES = {
    "torch": {"dense": (8, 16), "conv2d": (4, 6, 3, 3)},
    "keras": {"dense": (16, 8), "conv2d": (3, 3, 6, 4)},
}
# np.transpose axes that take one canonical (out, in, *kernel) layer to the native layout:
# Keras stores kernels as (*kernel, in, out), PyTorch as (out, in, *kernel).
NATIVE_AXES = {
    "torch": {"dense": (0, 1), "conv2d": (0, 1, 2, 3)},
    "keras": {"dense": (1, 0), "conv2d": (2, 3, 1, 0)},
}

# Several 64x64 layers, enough weights for a correlation bound of 5 / sqrt(4096) = 0.078.
INDEPENDENCE_LAYER = "dense(in=64,out=64)"
INDEPENDENCE_LAYER_COUNT = 8

# Request name -> (layer string, layers, seed), drawn on every side.
REQUESTS = {
    "dense": (SHAPE_LAYERS["dense"], SHAPE_LAYER_COUNT, SEED),
    "conv2d": (SHAPE_LAYERS["conv2d"], SHAPE_LAYER_COUNT, SEED),
    "independence": (INDEPENDENCE_LAYER, INDEPENDENCE_LAYER_COUNT, SEED),
    "other_seed": (INDEPENDENCE_LAYER, INDEPENDENCE_LAYER_COUNT, SEED + 1),
}


@dataclass
class WorkerDraw:
    metadata: dict
    weights: np.ndarray


@dataclass
class Probe:
    report: dict
    folder: Path

    def array(self, name: str) -> np.ndarray:
        return np.load(self.folder / f"{name}.npy")


def _framework(side: str) -> str:
    return side.partition("/")[0]


def _correlation(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.corrcoef(first.ravel(), second.ravel())[0, 1])


@pytest.fixture(scope="module")
def worker_draws(tmp_path_factory) -> dict[tuple[str, str], WorkerDraw]:
    """Draw every request on every side, one worker process per runtime."""
    runner = DrawRunner(tmp_path_factory.mktemp("workers"), jobs=2)
    keys = {}
    for side, text in SIDES.items():
        side_spec = parse_side(text)
        for name, (layer, layers, seed) in REQUESTS.items():
            key = DrawKey(side_spec, parse_layer(layer), layers, seed)
            runner.add(key)
            keys[side, name] = key
    runner.run()

    draws = {}
    for (side, name), key in keys.items():
        outcome = runner.outcome(key)
        assert outcome.status == "ok", f"{side} request {name} did not draw: {outcome.reason}"
        draws[side, name] = WorkerDraw(outcome.metadata, outcome.load())
    return draws


def _run_probe(side: str, folder: Path) -> Probe:
    framework, backend = PROBE_RUNTIMES[side]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPOSITORY)}
    command = [
        sys.executable,
        str(PROBE_SCRIPT),
        framework,
        backend,
        str(SEED),
        str(SHAPE_LAYER_COUNT),
        str(folder),
    ]
    completed = subprocess.run(
        command, cwd=REPOSITORY, env=environment, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        pytest.fail(
            f"framework probe for {side} failed (exit {completed.returncode}):\n"
            f"{completed.stderr[-3000:]}"
        )
    return Probe(json.loads((folder / "probe.json").read_text()), folder)


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> dict[str, Probe]:
    """Run framework_probe.py once per runtime, two processes at a time."""
    folders = {side: tmp_path_factory.mktemp(f"probe-{side.replace('/', '-')}") for side in SIDES}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {side: pool.submit(_run_probe, side, folders[side]) for side in SIDES}
        return {side: future.result() for side, future in futures.items()}


@pytest.mark.frameworks
@pytest.mark.parametrize("kind", SHAPE_LAYERS)
@pytest.mark.parametrize("side", SIDES)
def test_fans_match_framework(worker_draws, probes, side, kind):
    metadata = worker_draws[side, kind].metadata
    framework_fans = probes[side].report[kind]

    assert metadata["fan_in"] == framework_fans["fan_in"]
    assert metadata["fan_out"] == framework_fans["fan_out"]


@pytest.mark.frameworks
@pytest.mark.parametrize("kind", SHAPE_LAYERS)
@pytest.mark.parametrize("side", SIDES)
def test_he_reference_std(worker_draws, probes, side, kind):
    reference = worker_draws[side, kind].metadata["reference"]
    framework_fan_in = probes[side].report[kind]["fan_in"]

    assert reference["std"] == pytest.approx(math.sqrt(2.0 / framework_fan_in), rel=1e-12)


@pytest.mark.frameworks
@pytest.mark.parametrize("kind", SHAPE_LAYERS)
@pytest.mark.parametrize("side", SIDES)
def test_canonical_and_native_shapes(worker_draws, probes, side, kind):
    draw = worker_draws[side, kind]
    framework = _framework(side)

    assert tuple(draw.metadata["canonical_shape"]) == CANONICAL_SHAPES[kind]
    assert draw.weights.shape == (SHAPE_LAYER_COUNT, *CANONICAL_SHAPES[kind])
    assert tuple(draw.metadata["native_shape"]) == NATIVE_SHAPES[framework][kind]
    assert tuple(probes[side].report[kind]["native_shape"]) == NATIVE_SHAPES[framework][kind]


@pytest.mark.frameworks
@pytest.mark.parametrize("kind", SHAPE_LAYERS)
@pytest.mark.parametrize("side", SIDES)
def test_canonical_maps_back_to_kernel(probes, side, kind):
    # The probe drew through the adapter and kept the adapter's own layer object. After the
    # draw, that layer's kernel contains the last layer drawn, in the native layout.
    probe = probes[side]
    canonical_last = probe.array(f"{kind}_adapter")[-1]
    kernel = probe.array(f"{kind}_kernel")
    native = np.transpose(canonical_last, NATIVE_AXES[_framework(side)][kind])

    assert native.shape == kernel.shape
    assert np.array_equal(native, kernel)


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_dense_fan_in_is_in_features(worker_draws, side):
    metadata = worker_draws[side, "dense"].metadata

    assert metadata["fan_in"] == 16
    assert metadata["fan_out"] == 8


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_side_reports_backend_version(worker_draws, side):
    versions = worker_draws[side, "dense"].metadata["versions"]

    assert BACKEND_PACKAGES[side] in versions
    if _framework(side) == "keras":
        assert "keras" in versions


@pytest.mark.frameworks
@pytest.mark.parametrize("kind", SHAPE_LAYERS)
@pytest.mark.parametrize("side", SIDES)
def test_same_seed_reproduces_across_processes(worker_draws, probes, side, kind):
    # The worker drew dense before conv2d and the probe drew conv2d first, in another process.
    from_worker = worker_draws[side, kind].weights
    from_probe = probes[side].array(f"{kind}_adapter")

    assert from_worker.shape == from_probe.shape
    assert np.array_equal(from_worker, from_probe)


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_successive_layers_independent(worker_draws, side):
    weights = worker_draws[side, "independence"].weights
    bound = 5.0 / math.sqrt(weights[0].size)

    for index in range(len(weights) - 1):
        first, second = weights[index], weights[index + 1]
        assert not np.array_equal(first, second), f"layers {index} and {index + 1} are equal"
        correlation = _correlation(first, second)
        assert abs(correlation) < bound, f"layers {index}, {index + 1}: r = {correlation:.4f}"


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_different_seeds_differ(worker_draws, side):
    weights = worker_draws[side, "independence"].weights
    other = worker_draws[side, "other_seed"].weights
    bound = 5.0 / math.sqrt(weights[0].size)

    for index in range(len(weights)):
        assert not np.array_equal(weights[index], other[index]), f"layer {index} repeats"
        correlation = _correlation(weights[index], other[index])
        assert abs(correlation) < bound, f"layer {index}: r = {correlation:.4f}"


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_drawn_moments_match_reference(worker_draws, side):
    draw = worker_draws[side, "independence"]
    expected_std = draw.metadata["reference"]["std"]
    weights = draw.weights.astype(np.float64)
    # Five standard errors: about 0.028 std for the mean and 2% for the std at 32,768 weights.
    tolerance = 5.0 / math.sqrt(weights.size)

    assert expected_std == pytest.approx(math.sqrt(2.0 / 64), rel=1e-12)
    assert abs(weights.mean()) < tolerance * expected_std
    assert weights.std() == pytest.approx(expected_std, rel=tolerance / math.sqrt(2.0))


def test_require_fresh_accepts_first_layer():
    require_fresh(None, np.zeros((2, 2)), "first draw")


def test_require_fresh_accepts_new_values():
    require_fresh(np.zeros((2, 2)), np.ones((2, 2)), "second draw")


def test_require_fresh_rejects_repeat():
    previous = np.arange(6, dtype=np.float32).reshape(2, 3)

    with pytest.raises(RepeatedDrawError, match="keras.initializers.HeNormal"):
        require_fresh(previous, previous.copy(), "keras.initializers.HeNormal()")
