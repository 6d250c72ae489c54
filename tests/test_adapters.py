"""Adapters against the real frameworks: every layer kind and tensor, on every side.

Every side draws through `harness.runner.DrawRunner`, so each framework and Keras backend runs
in its own worker process, as in a real run. One DrawRunner run draws every request. The
expected fans and native tensors come from the frameworks themselves, through
tests/framework_probe.py run once per runtime, never from formulas repeated here. The layer
sizes and tensors are framework_probe.CASES.
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
from framework_probe import CASES, layer_text, named_initializer

from adapters.base import RepeatedDrawError, require_fresh
from adapters.catalogue import canonical_shape
from harness.runner import DrawKey, DrawRunner
from harness.specs import parse_layer, parse_side

REPOSITORY = Path(__file__).resolve().parents[1]
PROBE_SCRIPT = Path(__file__).resolve().parent / "framework_probe.py"
SEED = 20261204

# Side label -> the side string's FRAMEWORK[/BACKEND] part. `keras` alone runs tensorflow.
SIDES = ("torch", "keras", "keras/jax", "keras/torch")
KERAS_SIDES = ("keras", "keras/jax", "keras/torch")
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

SHAPE_LAYER_COUNT = 3
HALF_LAYER_COUNT = 2
HALF_DTYPES = ("float16", "bfloat16")

# Keras 3.15.1 on CPU cannot build LSTM or GRU at these dtypes, because their default recurrent
# initializer, Orthogonal, needs a QR decomposition that the backend lacks at that precision.
# The requested recurrent kernel then fails as an error, and the other tensors have no
# counterpart.
KERAS_RECURRENT_FAILURES = {
    "keras": ("bfloat16",),
    "keras/jax": ("float16", "bfloat16"),
    "keras/torch": ("float16", "bfloat16"),
}

# Several 64x64 layers, enough weights for a correlation bound of 5 / sqrt(4096) = 0.078.
INDEPENDENCE_LAYER = "dense(in=64,out=64)"
INDEPENDENCE_LAYER_COUNT = 8

CONSTANT_VALUE = 0.25
# Request name -> (side initializer per framework, layer string, expected value of every weight).
CONSTANT_REQUESTS = {
    "constant": (
        {"torch": f"constant(val={CONSTANT_VALUE})", "keras": f"constant(value={CONSTANT_VALUE})"},
        layer_text("dense.kernel"),
        CONSTANT_VALUE,
    ),
    "zeros": ({"torch": "zeros", "keras": "zeros"}, layer_text("dense.bias"), 0.0),
    "ones": ({"torch": "ones", "keras": "ones"}, layer_text("dense.kernel"), 1.0),
}
GROUPED_TRANSPOSE_LAYER = "conv_transpose2d(in=4,out=6,kernel=3,groups=2)"

# Gate blocks of the canonical recurrent tensors: LSTM (i, f, g, o), GRU (r, z, n).
LSTM_FORGET_GATE = 1


@dataclass
class WorkerDraw:
    status: str
    metadata: dict
    weights: np.ndarray | None


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


def _requests(side: str) -> dict[tuple[str, str], tuple[str, str, int, int]]:
    """Return (purpose, case) -> (side string, layer string, layers, seed) for one side."""
    framework = _framework(side)
    requests = {}
    for case in CASES:
        layer = layer_text(case)
        named = named_initializer(framework, case)
        requests["named", case] = (f"{side}:{named}", layer, SHAPE_LAYER_COUNT, SEED)
        requests["default", case] = (f"{side}:default", layer, SHAPE_LAYER_COUNT, SEED)
        # Defaults at half precision: a layer kind's tensors then share the framework's
        # compiled kernels, which keeps the JAX backend's compile time down.
        for dtype in HALF_DTYPES:
            side_text = f"{side}:default@{dtype}"
            requests[dtype, case] = (side_text, layer, HALF_LAYER_COUNT, SEED)

    named_dense = named_initializer(framework, "dense.kernel")
    for dtype in HALF_DTYPES:
        side_text = f"{side}:{named_dense}@{dtype}"
        requests[f"named_{dtype}", "dense.kernel"] = (
            side_text,
            layer_text("dense.kernel"),
            HALF_LAYER_COUNT,
            SEED,
        )

    he_side = f"{side}:he_normal"
    requests["independence", "dense"] = (he_side, INDEPENDENCE_LAYER, 8, SEED)
    requests["other_seed", "dense"] = (he_side, INDEPENDENCE_LAYER, 8, SEED + 1)

    # Orthogonal needs a matrix, so both frameworks raise for a 1-D bias.
    requests["raising", "dense.bias"] = (
        f"{side}:orthogonal",
        layer_text("dense.bias"),
        SHAPE_LAYER_COUNT,
        SEED,
    )

    for name, (initializer, layer, _) in CONSTANT_REQUESTS.items():
        side_text = f"{side}:{initializer[framework]}"
        requests[name, "constant"] = (side_text, layer, SHAPE_LAYER_COUNT, SEED)

    requests["grouped_transpose", "kernel"] = (
        f"{side}:{named_dense}",
        GROUPED_TRANSPOSE_LAYER,
        SHAPE_LAYER_COUNT,
        SEED,
    )
    return requests


@pytest.fixture(scope="module")
def shared_compile_cache(tmp_path_factory):
    """Let the JAX workers and the JAX probe share compiled kernels within this module.

    XLA on CPU took 0.5 to 2.6 s to compile one random op for a new shape and dtype (jax 0.10.2,
    2 cores). The probe draws the same shapes as the worker, so it loads them from this cache.
    """
    folder = tmp_path_factory.mktemp("jax-compile-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAX_COMPILATION_CACHE_DIR", str(folder))
        patch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        yield folder


@pytest.fixture(scope="module")
def worker_draws(tmp_path_factory, shared_compile_cache) -> dict[tuple, WorkerDraw]:
    """Draw every request on every side in one DrawRunner run, one worker per runtime."""
    runner = DrawRunner(tmp_path_factory.mktemp("workers"), jobs=2)
    keys = {}
    for side in SIDES:
        for (purpose, case), (side_text, layer, layers, seed) in _requests(side).items():
            key = DrawKey(parse_side(side_text), parse_layer(layer), layers, seed)
            runner.add(key)
            keys[side, purpose, case] = key
    runner.run()

    draws = {}
    for name, key in keys.items():
        outcome = runner.outcome(key)
        weights = outcome.load() if outcome.status == "ok" else None
        draws[name] = WorkerDraw(outcome.status, outcome.metadata, weights)
    return draws


def _drawn(worker_draws, side: str, purpose: str, case: str) -> WorkerDraw:
    draw = worker_draws[side, purpose, case]
    assert draw.status == "ok", f"{side} {purpose} {case} did not draw: {draw.metadata}"
    return draw


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
def probes(tmp_path_factory, shared_compile_cache, worker_draws) -> dict[str, Probe]:
    """Run framework_probe.py once per runtime, two processes at a time, after the workers."""
    folders = {side: tmp_path_factory.mktemp(f"probe-{side.replace('/', '-')}") for side in SIDES}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {side: pool.submit(_run_probe, side, folders[side]) for side in SIDES}
        return {side: future.result() for side, future in futures.items()}


def _native_from_canonical(framework: str, case: str, canonical: np.ndarray) -> np.ndarray:
    """Map one canonical layer back to the framework's native layout, written independently.

    Keras stores kernels as (*kernel, in, out) and transposed convolutions as
    (*kernel, out, in). Depthwise kernels are (kernel, kernel, in, multiplier), and recurrent
    kernels (in, gates * units), with GRU gates in the order (z, r, h). Attention kernels are
    (dim, heads, head_dim), or (heads, head_dim, dim) for the output.
    """
    kind, sizes, tensor = CASES[case]
    if framework == "torch" or kind == "embedding":
        return canonical
    if kind == "gru":
        reset, update, new = np.split(canonical, 3, axis=0)
        keras_order = np.concatenate([update, reset, new], axis=0)
        return keras_order if tensor == "bias" else keras_order.T
    if tensor == "bias":
        return canonical
    if kind in ("dense", "lstm"):
        return canonical.T
    if kind == "depthwise_conv2d":
        channels, multiplier = sizes["in"], sizes["multiplier"]
        size = sizes["kernel"]
        spatial_last = np.transpose(canonical[:, 0], (1, 2, 0))
        return spatial_last.reshape(size, size, channels, multiplier)
    if kind == "attention":
        dim, heads = sizes["dim"], sizes["heads"]
        if tensor == "output":
            return canonical.T.reshape(heads, dim // heads, dim)
        return canonical.T.reshape(dim, heads, dim // heads)
    return np.transpose(canonical, (*range(2, canonical.ndim), 1, 0))


def _native_part(framework: str, case: str, native: np.ndarray) -> np.ndarray:
    """Return the part of the native tensor that contains the canonical one."""
    kind, sizes, tensor = CASES[case]
    if framework == "torch" and kind == "attention" and tensor != "output":
        dim = sizes["dim"]
        start = ("query", "key", "value").index(tensor) * dim
        return native[start : start + dim]
    if framework == "keras" and kind == "gru" and tensor == "bias":
        # reset_after=True: row 0 is the input bias, row 1 the recurrent bias.
        return native[0]
    return native


def _representable(weights: np.ndarray, dtype: str) -> bool:
    """Whether every float32 value is exactly a float16 or bfloat16 number."""
    if dtype == "float16":
        return bool(np.array_equal(weights.astype(np.float16).astype(np.float32), weights))
    # bfloat16 is float32 with the low 16 bits of the mantissa dropped.
    bits = np.ascontiguousarray(weights, dtype=np.float32).view(np.uint32)
    return bool(np.all(bits & 0xFFFF == 0))


# Shapes, fans and layouts ------------------------------------------------------------------


@pytest.mark.frameworks
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("side", SIDES)
def test_canonical_shape(worker_draws, side, case):
    kind, sizes, tensor = CASES[case]
    expected = canonical_shape(kind, tensor, sizes)
    draw = _drawn(worker_draws, side, "named", case)

    assert tuple(draw.metadata["canonical_shape"]) == expected
    assert draw.weights.shape == (SHAPE_LAYER_COUNT, *expected)
    assert draw.weights.dtype == np.float32


@pytest.mark.frameworks
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("side", SIDES)
def test_native_shape_matches_framework(worker_draws, probes, side, case):
    native = np.zeros(probes[side].report[case]["native_shape"])
    draw = _drawn(worker_draws, side, "named", case)
    if _framework(side) == "keras":
        # The adapter reports the whole variable, for GRU the (2, 3 * units) bias too.
        expected = native.shape
    else:
        expected = _native_part("torch", case, native).shape

    assert tuple(draw.metadata["native_shape"]) == expected


@pytest.mark.frameworks
@pytest.mark.parametrize("initialisation", ["named", "default"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("side", SIDES)
def test_fans_match_framework(worker_draws, probes, side, case, initialisation):
    metadata = _drawn(worker_draws, side, initialisation, case).metadata
    framework_fans = probes[side].report[case][initialisation]

    assert metadata["fan_in"] == framework_fans["fan_in"]
    assert metadata["fan_out"] == framework_fans["fan_out"]


@pytest.mark.frameworks
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("side", SIDES)
def test_canonical_maps_back_to_native(probes, side, case):
    # The probe drew through the adapter and kept the adapter's own layer object. After the
    # draw, that layer's tensor contains the last layer drawn, in the native layout.
    probe = probes[side]
    framework = _framework(side)
    canonical_last = probe.array(f"{case}_adapter")[-1]
    native = _native_part(framework, case, probe.array(f"{case}_native"))
    expected = _native_from_canonical(framework, case, canonical_last)

    assert expected.shape == native.shape
    assert np.array_equal(expected, native)


@pytest.mark.frameworks
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("side", SIDES)
def test_draw_changes_only_requested_tensor(probes, side, case):
    entry = probes[side].report[case]

    assert entry["changed"] == [entry["requested"]]


@pytest.mark.frameworks
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("side", SIDES)
def test_same_seed_reproduces_across_processes(worker_draws, probes, side, case):
    # The worker and the probe drew the cases in opposite orders, in different processes.
    from_worker = _drawn(worker_draws, side, "named", case).weights
    from_probe = probes[side].array(f"{case}_adapter")

    assert from_worker.shape == from_probe.shape
    assert np.array_equal(from_worker, from_probe)


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_dense_fan_in_is_in_features(worker_draws, side):
    metadata = _drawn(worker_draws, side, "named", "dense.kernel").metadata

    assert metadata["fan_in"] == 16
    assert metadata["fan_out"] == 8


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_side_reports_backend_version(worker_draws, side):
    versions = _drawn(worker_draws, side, "named", "dense.kernel").metadata["versions"]

    assert BACKEND_PACKAGES[side] in versions
    if _framework(side) == "keras":
        assert "keras" in versions


# References --------------------------------------------------------------------------------


@pytest.mark.frameworks
@pytest.mark.parametrize("case", [c for c in CASES if named_initializer("torch", c) != "normal"])
@pytest.mark.parametrize("side", SIDES)
def test_he_reference_std(worker_draws, probes, side, case):
    reference = _drawn(worker_draws, side, "named", case).metadata["reference"]
    framework_fan_in = probes[side].report[case]["named"]["fan_in"]

    assert reference["std"] == pytest.approx(math.sqrt(2.0 / framework_fan_in), rel=1e-12)


def _kernel_case(case: str) -> str:
    return f"{case.partition('.')[0]}.kernel"


@pytest.mark.frameworks
@pytest.mark.parametrize("case", CASES)
def test_torch_default_reference(worker_draws, case):
    kind, sizes, tensor = CASES[case]
    draw = _drawn(worker_draws, "torch", "default", case)
    reference = draw.metadata["reference"]

    assert reference["family"] == ("normal" if kind == "embedding" else "uniform")
    if kind == "embedding":
        assert reference["std"] == 1.0
    elif kind in ("lstm", "gru"):
        assert reference["high"] == pytest.approx(1.0 / math.sqrt(sizes["hidden"]), rel=1e-12)
    elif kind == "attention" and tensor != "output":
        # xavier_uniform_ on the whole (3 * dim, dim) in_proj_weight.
        fans = draw.metadata["fan_in"] + draw.metadata["fan_out"]
        assert (draw.metadata["fan_in"], draw.metadata["fan_out"]) == (
            sizes["dim"],
            3 * sizes["dim"],
        )
        assert reference["std"] == pytest.approx(math.sqrt(2.0 / fans), rel=1e-12)
    else:
        # kaiming_uniform_(a=sqrt(5)) for the weight; the bias uses the weight's fan_in.
        kernel = "attention.output" if kind == "attention" else _kernel_case(case)
        fan_in = _drawn(worker_draws, "torch", "default", kernel).metadata["fan_in"]
        assert reference["high"] == pytest.approx(1.0 / math.sqrt(fan_in), rel=1e-12)
    if reference["family"] == "uniform":
        assert np.all(np.abs(draw.weights) <= reference["high"])


@pytest.mark.frameworks
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("side", KERAS_SIDES)
def test_keras_default_reference(worker_draws, side, case):
    kind, sizes, tensor = CASES[case]
    draw = _drawn(worker_draws, side, "default", case)
    reference = draw.metadata["reference"]
    fan_in, fan_out = draw.metadata["fan_in"], draw.metadata["fan_out"]

    if kind == "embedding":
        assert reference["family"] == "uniform"
        assert (reference["low"], reference["high"]) == pytest.approx((-0.05, 0.05))
    elif tensor == "recurrent_kernel":
        assert reference["family"] == "orthogonal"
        assert reference["gain"] == 1.0
    elif tensor == "bias" and kind == "lstm":
        # unit_forget_bias=True: zeros, with ones on the forget gate.
        assert reference["family"] == "constant"
        assert reference["values"] == [0.0, 1.0, 0.0, 0.0]
        assert reference["mean"] == 0.25
    elif tensor == "bias":
        assert reference["family"] == "constant"
        assert reference["value"] == 0.0
    else:
        # GlorotUniform, with EinsumDense's axes for the attention kernels.
        assert reference["family"] == "uniform"
        expected_std = math.sqrt(2.0 / (fan_in + fan_out))
        assert reference["std"] == pytest.approx(expected_std, rel=1e-12)


@pytest.mark.frameworks
@pytest.mark.parametrize("side", KERAS_SIDES)
def test_keras_lstm_default_bias_has_forget_ones(worker_draws, side):
    weights = _drawn(worker_draws, side, "default", "lstm.bias").weights
    hidden = CASES["lstm.bias"][1]["hidden"]
    gates = weights.reshape(len(weights), 4, hidden)

    assert np.all(gates[:, LSTM_FORGET_GATE] == 1.0)
    assert np.all(np.delete(gates, LSTM_FORGET_GATE, axis=1) == 0.0)


@pytest.mark.frameworks
@pytest.mark.parametrize("name", CONSTANT_REQUESTS)
@pytest.mark.parametrize("side", SIDES)
def test_constant_initializers(worker_draws, side, name):
    draw = _drawn(worker_draws, side, name, "constant")
    expected = CONSTANT_REQUESTS[name][2]

    assert np.all(draw.weights == expected)
    assert draw.metadata["reference"]["family"] == "constant"
    assert draw.metadata["reference"]["value"] == expected
    assert draw.metadata["reference"]["std"] == 0.0


# Fresh draws -------------------------------------------------------------------------------


@pytest.mark.frameworks
@pytest.mark.parametrize("initialisation", ["named", "default"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("side", SIDES)
def test_successive_layers_differ(worker_draws, side, case, initialisation):
    draw = _drawn(worker_draws, side, initialisation, case)
    weights = draw.weights

    for index in range(len(weights) - 1):
        same = np.array_equal(weights[index], weights[index + 1])
        if draw.metadata["reference"]["family"] == "constant":
            assert same, f"constant layers {index} and {index + 1} differ"
        else:
            assert not same, f"layers {index} and {index + 1} are equal"


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_successive_layers_independent(worker_draws, side):
    weights = _drawn(worker_draws, side, "independence", "dense").weights
    bound = 5.0 / math.sqrt(weights[0].size)

    for index in range(len(weights) - 1):
        first, second = weights[index], weights[index + 1]
        assert not np.array_equal(first, second), f"layers {index} and {index + 1} are equal"
        correlation = _correlation(first, second)
        assert abs(correlation) < bound, f"layers {index}, {index + 1}: r = {correlation:.4f}"


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_different_seeds_differ(worker_draws, side):
    weights = _drawn(worker_draws, side, "independence", "dense").weights
    other = _drawn(worker_draws, side, "other_seed", "dense").weights
    bound = 5.0 / math.sqrt(weights[0].size)

    for index in range(len(weights)):
        assert not np.array_equal(weights[index], other[index]), f"layer {index} repeats"
        correlation = _correlation(weights[index], other[index])
        assert abs(correlation) < bound, f"layer {index}: r = {correlation:.4f}"


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_drawn_moments_match_reference(worker_draws, side):
    draw = _drawn(worker_draws, side, "independence", "dense")
    expected_std = draw.metadata["reference"]["std"]
    weights = draw.weights.astype(np.float64)
    # Five standard errors: about 0.028 std for the mean and 2% for the std at 32,768 weights.
    tolerance = 5.0 / math.sqrt(weights.size)

    assert expected_std == pytest.approx(math.sqrt(2.0 / 64), rel=1e-12)
    assert abs(weights.mean()) < tolerance * expected_std
    assert weights.std() == pytest.approx(expected_std, rel=tolerance / math.sqrt(2.0))


# Half precision ----------------------------------------------------------------------------


def _expected_half_status(side: str, case: str, dtype: str) -> str:
    kind, _, tensor = CASES[case]
    failing = KERAS_RECURRENT_FAILURES.get(side, ())
    if kind not in ("lstm", "gru") or dtype not in failing:
        return "ok"
    return "error" if tensor == "recurrent_kernel" else "skipped"


@pytest.mark.frameworks
@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("side", SIDES)
def test_half_precision_default_draws(worker_draws, side, case, dtype):
    kind, sizes, tensor = CASES[case]
    draw = worker_draws[side, dtype, case]
    expected_status = _expected_half_status(side, case, dtype)

    assert draw.status == expected_status, draw.metadata.get("reason")
    if expected_status == "skipped":
        assert f"cannot be built in {dtype}" in draw.metadata["reason"]
    if expected_status != "ok":
        return
    assert draw.weights.dtype == np.float32
    assert draw.weights.shape == (HALF_LAYER_COUNT, *canonical_shape(kind, tensor, sizes))
    assert np.all(np.isfinite(draw.weights))
    assert _representable(draw.weights, dtype), f"values are not {dtype} numbers"


@pytest.mark.frameworks
@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("side", SIDES)
def test_half_precision_named_draws(worker_draws, side, dtype):
    draw = _drawn(worker_draws, side, f"named_{dtype}", "dense.kernel")
    full_precision = _drawn(worker_draws, side, "named", "dense.kernel")

    assert draw.weights.dtype == np.float32
    assert draw.weights.shape == (HALF_LAYER_COUNT, 8, 16)
    assert _representable(draw.weights, dtype), f"values are not {dtype} numbers"
    assert not np.array_equal(draw.weights[0], draw.weights[1])
    assert draw.metadata["reference"] == full_precision.metadata["reference"]


# Errors and missing counterparts -----------------------------------------------------------


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_raising_initializer_is_error(worker_draws, side):
    draw = worker_draws[side, "raising", "dense.bias"]

    assert draw.status == "error"
    assert draw.weights is None
    assert draw.metadata["reason"]


@pytest.mark.frameworks
@pytest.mark.parametrize("side", SIDES)
def test_grouped_transposed_convolution(worker_draws, side):
    draw = worker_draws[side, "grouped_transpose", "kernel"]

    if _framework(side) == "keras":
        assert draw.status == "skipped"
        assert "groups" in draw.metadata["reason"]
    else:
        assert draw.status == "ok"
        # (in, out / groups, kernel, kernel)
        assert draw.weights.shape == (SHAPE_LAYER_COUNT, 4, 3, 3, 3)


def test_require_fresh_accepts_first_layer():
    require_fresh(None, np.zeros((2, 2)), "first draw")


def test_require_fresh_accepts_new_values():
    require_fresh(np.zeros((2, 2)), np.ones((2, 2)), "second draw")


def test_require_fresh_rejects_repeat():
    previous = np.arange(6, dtype=np.float32).reshape(2, 3)

    with pytest.raises(RepeatedDrawError, match="keras.initializers.HeNormal"):
        require_fresh(previous, previous.copy(), "keras.initializers.HeNormal()")
