"""The JAX adapter against the real jax and flax: shapes, fans, layouts, references and errors.

Draws run through `harness.runner.DrawRunner`, in a worker process, as in a real run. A second
process, this file run as a script (`python tests/test_adapter_flax.py OUT_DIR`), builds the same
`flax.nnx` layers itself from the same seed, records the shapes the layers pass to their
initializers and computes their fans with JAX's own helper. The tests compare the two
processes, so expected fans and parameters come from the frameworks, not from formulas repeated
here.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from adapters.catalogue import LAYERS, canonical_shape
from harness.runner import DrawKey, DrawOutcome, DrawRunner
from harness.specs import SideSpec, parse_layer, parse_side

REPOSITORY = Path(__file__).resolve().parents[1]
SEED = 20261204
LAYER_COUNT = 3

# One small layer of every kind, sized so that many initializer calls share one shape and one
# bias size: JAX compiles each random draw once per shape, which dominates this module's run time.
# The probe process builds layers of the same sizes.
LAYER_STRINGS = {
    "dense": "dense(in=4,out=6)",
    "conv1d": "conv1d(in=4,out=6,kernel=3,groups=2)",
    "conv2d": "conv2d(in=2,out=6,kernel=2)",
    "conv3d": "conv3d(in=2,out=6,kernel=2)",
    "conv_transpose1d": "conv_transpose1d(in=2,out=6,kernel=3)",
    "conv_transpose2d": "conv_transpose2d(in=2,out=6,kernel=2)",
    "depthwise_conv2d": "depthwise_conv2d(in=3,multiplier=2,kernel=2)",
    "embedding": "embedding(num=4,dim=6)",
    "lstm": "lstm(in=4,hidden=6)",
    "gru": "gru(in=4,hidden=2)",
    "attention": "attention(dim=6,heads=2)",
}
DENSE = LAYER_STRINGS["dense"]
TENSORS = [(kind, tensor) for kind in LAYER_STRINGS for tensor in LAYERS[kind].tensors]
BIASES = [(kind, tensor) for kind, tensor in TENSORS if tensor == "bias"]
LSTM_GATES = 4

# Side name -> side string. Default biases are zeros, so every bias is also drawn from a normal,
# whose values make the layout checks meaningful.
SIDES = {
    "default": "jax:default",
    "normal": "jax:normal(stddev=1.0)",
    "he_normal": "jax:he_normal",
}
# (kind, tensor, side name) drawn in the worker and rebuilt by the probe.
PROBED = [
    *((kind, tensor, "default") for kind, tensor in TENSORS),
    *((kind, tensor, "normal") for kind, tensor in BIASES),
    # The embedding's default initializer uses out_axis=0; he_normal uses the usual axes.
    ("embedding", "embeddings", "he_normal"),
]
# The draw whose weights carry each tensor's layout: random values, never a constant.
LAYOUT_SIDE = {
    (kind, tensor): "normal" if tensor == "bias" else "default" for kind, tensor in TENSORS
}

# Draws the probe process repeats through the adapter itself, to show the seed reproduces.
REPRODUCED = [("dense", "kernel", "default"), ("lstm", "recurrent_kernel", "default")]

# Enough weights for the std to be known to 1% (one standard error is 0.28% at 65,536).
STD_LAYER = "dense(in=64,out=64)"
STD_LAYER_COUNT = 16

# Named extra requests: (side string, layer string, layers).
EXTRA = {
    "he_std": ("jax:he_normal", STD_LAYER, STD_LAYER_COUNT),
    "bfloat16": ("jax:he_normal@bfloat16", DENSE, LAYER_COUNT),
    "float16": ("jax:he_normal@float16", DENSE, LAYER_COUNT),
    "lstm_bfloat16": (
        "jax:default@bfloat16",
        f"{LAYER_STRINGS['lstm']}.recurrent_kernel",
        LAYER_COUNT,
    ),
    "truncated": ("jax:truncated_normal(stddev=0.5)", DENSE, LAYER_COUNT),
    "uniform": ("jax:uniform(scale=0.5)", DENSE, LAYER_COUNT),
    "orthogonal": ("jax:orthogonal(scale=2.0)", DENSE, LAYER_COUNT),
    "constant_bias": ("jax:constant(value=0.25)", f"{DENSE}.bias", LAYER_COUNT),
    "zeros_key": ("jax:zeros", "attention(dim=6,heads=2).key", LAYER_COUNT),
    "ones_value": ("jax:ones", "attention(dim=6,heads=2).value", LAYER_COUNT),
    "conv_transpose_groups": (
        "jax:default",
        "conv_transpose2d(in=4,out=4,kernel=2,groups=2)",
        LAYER_COUNT,
    ),
    "orthogonal_bias": ("jax:orthogonal", f"{DENSE}.bias", LAYER_COUNT),
    "he_bias": ("jax:he_normal", f"{DENSE}.bias", LAYER_COUNT),
    "missing_argument": (
        "jax:variance_scaling(scale=1.0,mode=fan_in)",
        DENSE,
        LAYER_COUNT,
    ),
    "asymmetric_bounds": (
        "jax:truncated_normal(stddev=1.0,lower=-1.0,upper=2.0)",
        DENSE,
        LAYER_COUNT,
    ),
}
ERRORS = ("orthogonal_bias", "he_bias", "missing_argument", "asymmetric_bounds", "invalid_mode")


# ---------------------------------------------------------------------------------------------
# The probe process: Flax's own layers, built without the adapter


def _flax_layer(nnx, kind: str, sizes: dict[str, int], rngs, **initializers):
    """Build one Flax layer of `kind`, as a user would, with the given initializer arguments."""
    if kind == "dense":
        return nnx.Linear(sizes["in"], sizes["out"], rngs=rngs, **initializers)
    if kind.startswith("conv_transpose"):
        dimensions = int(kind[-2])
        return nnx.ConvTranspose(
            sizes["in"],
            sizes["out"],
            (sizes["kernel"],) * dimensions,
            padding="VALID",
            rngs=rngs,
            **initializers,
        )
    if kind.startswith("conv"):
        dimensions = int(kind[-2])
        return nnx.Conv(
            sizes["in"],
            sizes["out"],
            (sizes["kernel"],) * dimensions,
            feature_group_count=sizes["groups"],
            rngs=rngs,
            **initializers,
        )
    if kind == "depthwise_conv2d":
        return nnx.Conv(
            sizes["in"],
            sizes["in"] * sizes["multiplier"],
            (sizes["kernel"],) * 2,
            feature_group_count=sizes["in"],
            rngs=rngs,
            **initializers,
        )
    if kind == "embedding":
        return nnx.Embed(sizes["num"], sizes["dim"], rngs=rngs, **initializers)
    if kind == "lstm":
        return nnx.LSTMCell(sizes["in"], sizes["hidden"], rngs=rngs, **initializers)
    if kind == "gru":
        return nnx.GRUCell(sizes["in"], sizes["hidden"], rngs=rngs, **initializers)
    return nnx.MultiHeadAttention(sizes["heads"], sizes["dim"], rngs=rngs, **initializers)


FLAX_CLASSES = {
    "dense": "Linear",
    "conv1d": "Conv",
    "conv2d": "Conv",
    "conv3d": "Conv",
    "conv_transpose1d": "ConvTranspose",
    "conv_transpose2d": "ConvTranspose",
    "depthwise_conv2d": "Conv",
    "embedding": "Embed",
    "lstm": "LSTMCell",
    "gru": "GRUCell",
    "attention": "MultiHeadAttention",
}
_LSTM_INPUT = ("ii", "if_", "ig", "io")
_LSTM_HIDDEN = ("hi", "hf", "hg", "ho")

# Flax's structure as its source shows it (flax 0.12.8): per tensor, the constructor argument
# that sets its initializer, the parameters holding it in canonical order, and, where several
# tensors share one argument, which of its calls is this tensor's. MultiHeadAttention builds
# query, key, value, then out, and its out falls back to kernel_init by default.
FLAX_TENSORS = {
    **{(kind, "kernel"): ("kernel_init", ("kernel",), None) for kind in LAYER_STRINGS},
    **{(kind, "bias"): ("bias_init", ("bias",), None) for kind in LAYER_STRINGS},
    ("embedding", "embeddings"): ("embedding_init", ("embedding",), None),
    ("lstm", "kernel"): ("kernel_init", tuple(f"{g}.kernel" for g in _LSTM_INPUT), None),
    ("lstm", "recurrent_kernel"): (
        "recurrent_kernel_init",
        tuple(f"{g}.kernel" for g in _LSTM_HIDDEN),
        None,
    ),
    ("lstm", "bias"): ("bias_init", tuple(f"{g}.bias" for g in _LSTM_HIDDEN), None),
    ("gru", "kernel"): ("kernel_init", ("dense_i.kernel",), None),
    ("gru", "recurrent_kernel"): ("recurrent_kernel_init", ("dense_h.kernel",), None),
    ("gru", "bias"): ("bias_init", ("dense_i.bias",), None),
    ("attention", "query"): ("kernel_init", ("query.kernel",), 0),
    ("attention", "key"): ("kernel_init", ("key.kernel",), 1),
    ("attention", "value"): ("kernel_init", ("value.kernel",), 2),
    ("attention", "output"): ("kernel_init", ("out.kernel",), 3),
}


def _probe_case(jax, nnx, compute_fans, kind: str, tensor: str, side: str, folder: Path) -> dict:
    """Build layer 0 of one case with Flax alone; save its parameters, return shapes and fans."""
    argument, paths, call_index = FLAX_TENSORS[kind, tensor]
    cls = getattr(nnx, FLAX_CLASSES[kind])
    initializer = {
        "default": inspect.signature(cls.__init__).parameters[argument].default,
        "normal": jax.nn.initializers.normal(1.0),
        "he_normal": jax.nn.initializers.he_normal(),
    }[side]
    shapes = []

    def recording(key, shape, *args, **kwargs):
        shapes.append(tuple(int(d) for d in shape))
        return initializer(key, shape, *args, **kwargs)

    sizes = parse_layer(LAYER_STRINGS[kind]).arguments
    layer = _flax_layer(nnx, kind, sizes, nnx.Rngs(params=SEED), **{argument: recording})
    seen = shapes if call_index is None else [shapes[call_index]]
    axes = inspect.getclosurevars(initializer).nonlocals
    in_axis, out_axis = axes.get("in_axis", -2), axes.get("out_axis", -1)
    if len(seen[0]) < 2:
        fans = [None, None]
    else:
        fans = [float(fan) for fan in compute_fans(seen[0], in_axis, out_axis)]

    native_shapes = []
    for index, path in enumerate(paths):
        parameter = layer
        for name in path.split("."):
            parameter = getattr(parameter, name)
        value = np.asarray(jax.numpy.asarray(parameter[...], dtype=jax.numpy.float32))
        np.save(folder / f"{kind}.{tensor}.{side}.part{index}.npy", value)
        native_shapes.append(list(value.shape))
    return {"shapes": [list(s) for s in seen], "fans": fans, "native_shapes": native_shapes}


def _probe_transpose_response(jax, nnx, folder: Path) -> None:
    """Save conv_transpose1d layer 0's output for a one-hot input on each input channel.

    With padding VALID and an input of length 1, PyTorch's ConvTranspose1d returns
    out[t, o] = weight[i, o, t] for a one-hot input on channel i: the canonical layout's meaning.
    """
    sizes = parse_layer(LAYER_STRINGS["conv_transpose1d"]).arguments
    layer = _flax_layer(nnx, "conv_transpose1d", sizes, nnx.Rngs(params=SEED))
    responses = [
        np.asarray(layer(jax.numpy.eye(sizes["in"])[channel].reshape(1, 1, sizes["in"]))[0])
        for channel in range(sizes["in"])
    ]
    np.save(folder / "conv_transpose1d.response.npy", np.stack(responses))


def _run_probe_process(folder: Path) -> None:
    import jax
    from flax import nnx
    from jax._src.nn.initializers import _compute_fans

    from adapters import flax_nnx
    from adapters.base import DrawRequest

    report = {
        f"{kind}.{tensor}.{side}": _probe_case(jax, nnx, _compute_fans, kind, tensor, side, folder)
        for kind, tensor, side in PROBED
    }
    _probe_transpose_response(jax, nnx, folder)
    for kind, tensor, side in REPRODUCED:
        layer = parse_layer(LAYER_STRINGS[kind])
        request = DrawRequest(
            initializer=side,
            arguments={},
            layer=kind,
            layer_arguments=layer.arguments,
            layers=LAYER_COUNT,
            seed=SEED,
            tensor=tensor,
        )
        np.save(folder / f"{kind}.{tensor}.{side}.adapter.npy", flax_nnx.draw(request).weights)
    (folder / "probe.json").write_text(json.dumps(report))


# ---------------------------------------------------------------------------------------------
# Fixtures: one worker run and one probe run per module, side by side


@dataclass
class Probe:
    report: dict
    folder: Path

    def array(self, name: str) -> np.ndarray:
        return np.load(self.folder / f"{name}.npy")


def _layer_spec(kind: str, tensor: str):
    return parse_layer(f"{LAYER_STRINGS[kind]}.{tensor}")


def _keys() -> dict:
    keys = {}
    for kind, tensor, side in PROBED:
        side_spec = parse_side(SIDES[side])
        keys[kind, tensor, side] = DrawKey(side_spec, _layer_spec(kind, tensor), LAYER_COUNT, SEED)
    for name, (side, layer, layers) in EXTRA.items():
        keys[name] = DrawKey(parse_side(side), parse_layer(layer), layers, SEED)
    # parse_side rejects an invalid mode before any worker starts; this side skips that check
    # to show what the worker does when the framework itself raises.
    invalid = replace(
        parse_side("jax:variance_scaling(scale=1.0,mode=fan_in,distribution=normal)"),
        arguments={"scale": 1.0, "mode": "fan_sideways", "distribution": "normal"},
    )
    keys["invalid_mode"] = DrawKey(invalid, parse_layer(DENSE), LAYER_COUNT, SEED)
    return keys


def _run_workers(folder: Path) -> dict:
    runner = DrawRunner(folder, jobs=1)
    keys = _keys()
    for key in keys.values():
        runner.add(key)
    runner.run()
    return {name: runner.outcome(key) for name, key in keys.items()}


def _run_probe(folder: Path) -> Probe:
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "PYTHONWARNINGS": "ignore"}
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(folder)],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(
            f"flax probe failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
        )
    return Probe(json.loads((folder / "probe.json").read_text()), folder)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[dict[object, DrawOutcome], Probe]:
    """Run the worker and the probe process once, at the same time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        workers = pool.submit(_run_workers, tmp_path_factory.mktemp("flax-workers"))
        probe = pool.submit(_run_probe, tmp_path_factory.mktemp("flax-probe"))
        return workers.result(), probe.result()


@pytest.fixture(scope="module")
def outcomes(runs) -> dict[object, DrawOutcome]:
    return runs[0]


@pytest.fixture(scope="module")
def probe(runs) -> Probe:
    return runs[1]


def _ok(outcomes, name) -> tuple[dict, np.ndarray]:
    outcome = outcomes[name]
    assert outcome.status == "ok", f"{name} did not draw: {outcome.reason}"
    return outcome.metadata, outcome.load()


# ---------------------------------------------------------------------------------------------
# Canonical layout -> Flax's own parameters


def _to_native(kind: str, tensor: str, canonical: np.ndarray, sizes: dict) -> list[np.ndarray]:
    """Undo the canonical layout: return Flax's own parameter(s) for one layer."""
    if (tensor == "bias" and kind != "lstm") or tensor == "embeddings":
        return [canonical]
    if kind == "lstm":
        return [block.T for block in np.split(canonical, LSTM_GATES, axis=0)]
    if kind in ("dense", "gru"):
        return [canonical.T]
    if kind == "attention":
        dim, heads = sizes["dim"], sizes["heads"]
        if tensor == "output":
            return [canonical.T.reshape(heads, dim // heads, dim)]
        return [canonical.T.reshape(dim, heads, dim // heads)]
    dimensions = canonical.ndim - 2
    spatial = tuple(range(2, 2 + dimensions))
    if kind.startswith("conv_transpose"):
        # (in, out, *kernel) -> (*kernel, in, out), with Flax's spatially flipped kernel.
        return [np.flip(np.transpose(canonical, (*spatial, 0, 1)), axis=tuple(range(dimensions)))]
    # (out, in / groups, *kernel) -> (*kernel, in / groups, out)
    return [np.transpose(canonical, (*spatial, 1, 0))]


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.mark.frameworks
@pytest.mark.parametrize(("kind", "tensor", "side"), PROBED)
def test_canonical_shape(outcomes, kind, tensor, side):
    metadata, weights = _ok(outcomes, (kind, tensor, side))
    expected = canonical_shape(kind, tensor, parse_layer(LAYER_STRINGS[kind]).arguments)

    assert weights.shape == (LAYER_COUNT, *expected)
    assert tuple(metadata["canonical_shape"]) == expected
    assert weights.dtype == np.float32
    assert metadata["layer_class"] == f"flax.nnx.{FLAX_CLASSES[kind]}"


@pytest.mark.frameworks
@pytest.mark.parametrize(("kind", "tensor", "side"), PROBED)
def test_fans_match_jax(outcomes, probe, kind, tensor, side):
    metadata, _ = _ok(outcomes, (kind, tensor, side))
    expected = probe.report[f"{kind}.{tensor}.{side}"]["fans"]

    assert [metadata["fan_in"], metadata["fan_out"]] == expected


@pytest.mark.frameworks
@pytest.mark.parametrize(("kind", "tensor", "side"), PROBED)
def test_native_shape_reported(outcomes, probe, kind, tensor, side):
    metadata, _ = _ok(outcomes, (kind, tensor, side))
    parts = probe.report[f"{kind}.{tensor}.{side}"]["native_shapes"]
    expected = parts[0] if len(parts) == 1 else [len(parts), *parts[0]]

    assert metadata["native_shape"] == expected


@pytest.mark.frameworks
@pytest.mark.parametrize(("kind", "tensor"), TENSORS)
def test_canonical_maps_back_to_parameter(outcomes, probe, kind, tensor):
    side = LAYOUT_SIDE[kind, tensor]
    _, weights = _ok(outcomes, (kind, tensor, side))
    sizes = parse_layer(LAYER_STRINGS[kind]).arguments
    native = _to_native(kind, tensor, weights[0], sizes)
    parts = probe.report[f"{kind}.{tensor}.{side}"]["native_shapes"]

    assert len(native) == len(parts)
    for index, part in enumerate(native):
        flax_parameter = probe.array(f"{kind}.{tensor}.{side}.part{index}")
        assert part.shape == flax_parameter.shape, f"part {index}"
        assert np.array_equal(part, flax_parameter), f"part {index}"


@pytest.mark.frameworks
def test_conv_transpose_layout_means_pytorch_weight(outcomes, probe):
    _, weights = _ok(outcomes, ("conv_transpose1d", "kernel", "default"))
    # response[i, t, o]: output at position t, channel o, for a one-hot input on channel i.
    response = probe.array("conv_transpose1d.response")

    np.testing.assert_allclose(response, np.transpose(weights[0], (0, 2, 1)), rtol=1e-6)


@pytest.mark.frameworks
@pytest.mark.parametrize(("kind", "tensor"), TENSORS)
def test_successive_layers_differ(outcomes, kind, tensor):
    _, weights = _ok(outcomes, (kind, tensor, LAYOUT_SIDE[kind, tensor]))

    for index in range(len(weights) - 1):
        equal = np.mean(weights[index] == weights[index + 1])
        assert equal < 0.5, f"layers {index} and {index + 1} share {equal:.0%} of their values"


@pytest.mark.frameworks
@pytest.mark.parametrize(("kind", "tensor", "side"), REPRODUCED)
def test_same_seed_reproduces_across_processes(outcomes, probe, kind, tensor, side):
    _, from_worker = _ok(outcomes, (kind, tensor, side))
    from_probe = probe.array(f"{kind}.{tensor}.{side}.adapter")

    assert np.array_equal(from_worker, from_probe)


@pytest.mark.frameworks
def test_he_normal_dense_std(outcomes):
    metadata, weights = _ok(outcomes, "he_std")
    fan_in = metadata["fan_in"]
    reference = metadata["reference"]
    # Five standard errors of a sample std: 5 / sqrt(2 n), 1.4% at 65,536 weights.
    tolerance = 5.0 / math.sqrt(2.0 * weights.size)

    assert fan_in == 64
    assert float(np.std(weights, dtype=np.float64)) == pytest.approx(
        math.sqrt(2.0 / fan_in), rel=tolerance
    )
    assert reference["family"] == "truncated_normal"
    assert reference["variance_corrected"] is True
    assert reference["std"] == pytest.approx(math.sqrt(2.0 / fan_in), rel=1e-12)
    assert reference["bound_in_scale"] == pytest.approx(2.0)


@pytest.mark.frameworks
def test_he_normal_stays_inside_bound(outcomes):
    metadata, weights = _ok(outcomes, "he_std")

    assert float(np.max(np.abs(weights))) <= metadata["reference"]["high"] * (1 + 1e-6)


@pytest.mark.frameworks
def test_default_dense_kernel_is_lecun_normal(outcomes):
    metadata, _ = _ok(outcomes, ("dense", "kernel", "default"))
    reference = metadata["reference"]

    assert reference["family"] == "truncated_normal"
    assert reference["variance_corrected"] is True
    assert reference["std"] == pytest.approx(math.sqrt(1.0 / metadata["fan_in"]), rel=1e-12)
    assert "variance_scaling" in metadata["initializer_call"]
    assert metadata["layer_class"] == "flax.nnx.Linear"


@pytest.mark.frameworks
@pytest.mark.parametrize(("kind", "tensor"), BIASES)
def test_default_bias_is_constant_zero(outcomes, kind, tensor):
    metadata, weights = _ok(outcomes, (kind, tensor, "default"))

    assert metadata["reference"] == {"family": "constant", "mean": 0.0, "std": 0.0, "value": 0.0}
    assert metadata["fan_in"] is None
    assert metadata["fan_out"] is None
    assert not np.any(weights)


@pytest.mark.frameworks
def test_default_embedding_is_untruncated_normal(outcomes):
    metadata, _ = _ok(outcomes, ("embedding", "embeddings", "default"))
    reference = metadata["reference"]

    assert reference["family"] == "normal"
    assert reference["std"] == pytest.approx(1.0 / math.sqrt(metadata["fan_in"]), rel=1e-12)


@pytest.mark.frameworks
def test_default_lstm_recurrent_is_orthogonal_per_gate(outcomes):
    metadata, weights = _ok(outcomes, ("lstm", "recurrent_kernel", "default"))
    reference = metadata["reference"]
    hidden = weights.shape[2]

    assert reference["family"] == "orthogonal"
    assert (reference["rows"], reference["cols"], reference["gain"]) == (hidden, hidden, 1.0)
    assert reference["blocks"] == LSTM_GATES
    for gate, block in enumerate(np.split(weights[0].astype(np.float64), LSTM_GATES, axis=0)):
        np.testing.assert_allclose(block @ block.T, np.eye(hidden), atol=1e-5, err_msg=f"{gate}")


@pytest.mark.frameworks
def test_default_gru_recurrent_is_one_orthogonal(outcomes):
    metadata, weights = _ok(outcomes, ("gru", "recurrent_kernel", "default"))
    reference = metadata["reference"]
    matrix = weights[0].astype(np.float64)

    assert (reference["rows"], reference["cols"]) == matrix.shape
    assert reference.get("blocks", 1) == 1
    np.testing.assert_allclose(matrix.T @ matrix, np.eye(matrix.shape[1]), atol=1e-5)


@pytest.mark.frameworks
def test_truncated_normal_is_uncorrected(outcomes):
    metadata, weights = _ok(outcomes, "truncated")
    reference = metadata["reference"]

    assert reference["family"] == "truncated_normal"
    assert reference["variance_corrected"] is False
    assert reference["scale"] == 0.5
    assert (reference["low"], reference["high"]) == (-1.0, 1.0)
    assert float(np.max(np.abs(weights))) <= 1.0


@pytest.mark.frameworks
def test_uniform_covers_zero_to_scale(outcomes):
    metadata, weights = _ok(outcomes, "uniform")
    reference = metadata["reference"]

    assert reference["family"] == "uniform"
    assert (reference["low"], reference["high"]) == (0.0, 0.5)
    assert float(weights.min()) >= 0.0
    assert float(weights.max()) < 0.5


@pytest.mark.frameworks
def test_orthogonal_reference_and_gain(outcomes):
    metadata, weights = _ok(outcomes, "orthogonal")
    reference = metadata["reference"]
    matrix = weights[0].astype(np.float64)

    assert reference["family"] == "orthogonal"
    # JAX orthogonalises the (in, out) = (4, 6) kernel: 6 canonical rows of 4 columns each.
    assert (reference["rows"], reference["cols"], reference["gain"]) == (6, 4, 2.0)
    np.testing.assert_allclose(matrix.T @ matrix, 4.0 * np.eye(4), atol=1e-4)


@pytest.mark.frameworks
def test_constant_bias_repeats_without_error(outcomes):
    metadata, weights = _ok(outcomes, "constant_bias")

    assert metadata["reference"] == {"family": "constant", "mean": 0.25, "std": 0.0, "value": 0.25}
    assert np.all(weights == 0.25)


@pytest.mark.frameworks
@pytest.mark.parametrize(("name", "value"), [("zeros_key", 0.0), ("ones_value", 1.0)])
def test_attention_projection_gets_requested_initializer(outcomes, name, value):
    metadata, weights = _ok(outcomes, name)

    assert metadata["reference"]["family"] == "constant"
    assert metadata["reference"]["value"] == value
    assert np.all(weights == value)


@pytest.mark.frameworks
@pytest.mark.parametrize("name", ["bfloat16", "float16", "lstm_bfloat16"])
def test_half_precision_draws(outcomes, name):
    _, weights = _ok(outcomes, name)

    assert weights.dtype == np.float32
    assert np.all(np.isfinite(weights))
    if "bfloat16" in name:
        # A bfloat16 value is a float32 whose low 16 mantissa bits are zero.
        assert np.all(weights.view(np.uint32) & 0xFFFF == 0)
    else:
        assert np.array_equal(weights.astype(np.float16).astype(np.float32), weights)


@pytest.mark.frameworks
def test_versions_reported(outcomes):
    metadata, _ = _ok(outcomes, ("dense", "kernel", "default"))

    assert set(metadata["versions"]) == {"jax", "flax", "jaxlib"}


@pytest.mark.frameworks
@pytest.mark.parametrize("name", ERRORS)
def test_failing_initializer_recorded_as_error(outcomes, name):
    outcome = outcomes[name]

    assert outcome.status == "error", outcome.reason
    assert outcome.reason


@pytest.mark.frameworks
def test_grouped_conv_transpose_has_no_counterpart(outcomes):
    outcome = outcomes["conv_transpose_groups"]

    assert outcome.status == "skipped"
    assert "no counterpart" in outcome.reason


def test_catalogue_imports_no_framework():
    code = (
        "import sys, adapters.flax_nnx as m; "
        "assert m.framework == 'jax' and 'he_normal' in m.initializers; "
        "print(sorted(n for n in ('jax', 'flax') if n in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        capture_output=True,
        text=True,
        check=True,
    )

    assert completed.stdout.strip() == "[]"


def test_side_strings_parse():
    side = parse_side("jax:variance_scaling(scale=2.0,mode=fan_avg,distribution=uniform)@bfloat16")

    assert (side.framework, side.backend, side.initializer, side.dtype) == (
        "jax",
        None,
        "variance_scaling",
        "bfloat16",
    )
    assert parse_side("jax:kaiming_normal").initializer == "he_normal"
    assert isinstance(parse_side("jax:default"), SideSpec)


if __name__ == "__main__":
    _run_probe_process(Path(sys.argv[1]))
