"""The regression gate on real results folders, and the verdict JSON Schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from harness import cli, gate

REPOSITORY = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPOSITORY / "schema" / "verdict.schema.json").read_text())
NAME = "torch-control"


def _run(out: Path, seed: int = 5, layers: int = 10) -> Path:
    exit_code = cli.main(
        [
            "compare",
            "torch:kaiming_normal",
            "torch:kaiming_uniform",
            "--layer",
            "dense(in=16,out=16)",
            "--layers",
            str(layers),
            "--seed",
            str(seed),
            "--name",
            NAME,
            "--no-plots",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert exit_code == 0
    return out


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("baseline"))


@pytest.fixture
def current(baseline, tmp_path) -> Path:
    copy = tmp_path / "current"
    shutil.copytree(baseline, copy)
    return copy


def _edit(folder: Path, change) -> None:
    path = folder / f"{NAME}.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


@pytest.mark.frameworks
def test_unchanged_results_pass(baseline, current, capsys):
    assert cli.main(["check", str(current), "--baseline", str(baseline)]) == 0
    assert "agree with the baseline" in capsys.readouterr().out


@pytest.mark.frameworks
def test_rerun_with_same_seed_passes(baseline, tmp_path):
    rerun = _run(tmp_path / "rerun")
    assert gate.check(rerun, baseline).exit_code == 0


@pytest.mark.frameworks
def test_flipped_verdict_fails_naming_versions(baseline, current, capsys):
    _edit(current, lambda d: d.update(verdict="same"))

    exit_code = cli.main(["check", str(current), "--baseline", str(baseline)])

    error = capsys.readouterr().err
    assert exit_code == 1
    assert NAME in error
    assert "verdict different -> same" in error
    assert "torch 2.13.0" in error


@pytest.mark.frameworks
def test_changed_fan_and_family_fail(baseline, current):
    def change(document):
        document["sides"][1]["fan_in"] = 32
        document["sides"][1]["fit"]["supported"] = "normal"

    _edit(current, change)
    result = gate.check(current, baseline)

    assert result.exit_code == gate.CHANGED
    assert "fan_in 16 -> 32" in result.lines[0]
    assert "fitted family uniform -> normal" in result.lines[0]


@pytest.mark.frameworks
def test_moved_std_fails(baseline, current):
    _edit(
        current,
        lambda d: d["sides"][0]["summary"].update(std=d["sides"][0]["summary"]["std"] * 1.1),
    )
    result = gate.check(current, baseline)
    assert result.exit_code == gate.CHANGED
    assert "std" in result.lines[0]


@pytest.mark.frameworks
@pytest.mark.parametrize("option", [{"seed": 6}, {"layers": 12}])
def test_other_configuration_is_not_comparable(baseline, tmp_path, option):
    other = _run(tmp_path / "other", **option)
    result = gate.check(other, baseline)
    assert result.exit_code == gate.NOT_COMPARABLE
    assert "configuration differs" in result.lines[0]
    assert next(iter(option)) in result.lines[0]


@pytest.mark.frameworks
def test_corrupt_baseline_names_the_file(baseline, current, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(baseline, broken)
    (broken / f"{NAME}.json").write_text("{not json")

    exit_code = cli.main(["check", str(current), "--baseline", str(broken)])

    assert exit_code == 2
    assert str(broken / f"{NAME}.json") in capsys.readouterr().err


@pytest.mark.frameworks
def test_foreign_schema_is_refused(baseline, current):
    _edit(current, lambda d: d.update(schema_version=99))
    result = gate.check(current, baseline)
    assert result.exit_code == gate.INVALID
    assert "schema_version 99" in result.lines[0]


@pytest.mark.frameworks
def test_update_baseline_rewrites_it(baseline, current, tmp_path):
    _edit(current, lambda d: d.update(verdict="same"))
    target = tmp_path / "new-baseline"

    assert cli.main(["check", str(current), "--baseline", str(target), "--update-baseline"]) == 0
    assert gate.check(current, target).exit_code == 0


@pytest.mark.frameworks
def test_run_output_matches_schema(baseline):
    document = json.loads((baseline / f"{NAME}.json").read_text())
    jsonschema.validate(document, SCHEMA)


def test_committed_baseline_matches_schema():
    files = sorted((REPOSITORY / "results" / "baseline").glob("*.json"))
    verdicts = [f for f in files if f.name != "manifest.json"]
    assert verdicts
    for path in verdicts:
        jsonschema.validate(json.loads(path.read_text()), SCHEMA)


def test_schema_rejects_missing_verdict():
    document = json.loads(
        next((REPOSITORY / "results" / "baseline").glob("he-normal-dense16.json")).read_text()
    )
    del document["verdict"]
    with pytest.raises(jsonschema.ValidationError, match="'verdict' is a required property"):
        jsonschema.validate(document, SCHEMA)
