"""report.md renders as GitHub Markdown and stays under GitHub's comment limit."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from harness.progress import Progress
from harness.report import GITHUB_COMMENT_LIMIT, markdown_summary

REPOSITORY = Path(__file__).resolve().parents[1]
BASELINE = REPOSITORY / "results" / "baseline"


def _render(markdown: str) -> str:
    # CommonMark plus GitHub's tables; <details> passes through as an HTML block.
    return MarkdownIt("commonmark").enable("table").render(markdown)


@pytest.fixture(scope="module")
def baseline_documents() -> tuple[list[dict], dict]:
    manifest = json.loads((BASELINE / "manifest.json").read_text())
    documents = [json.loads((BASELINE / e["file"]).read_text()) for e in manifest["comparisons"]]
    return documents, manifest


def test_default_suite_report_renders(baseline_documents):
    documents, manifest = baseline_documents
    html = _render(markdown_summary(documents, "suite default", manifest))

    assert html.count("<table>") == 2 * len(documents) + 2  # summary, environment, 2 per block
    assert html.count("<details>") == len(documents)
    assert "<strong>different</strong>" in html
    assert "he-normal-dense16" in html


def test_default_suite_report_fits_a_comment(baseline_documents):
    documents, manifest = baseline_documents
    assert len(markdown_summary(documents, "suite default", manifest)) < GITHUB_COMMENT_LIMIT


def test_long_suite_leaves_out_details(baseline_documents):
    documents, manifest = baseline_documents
    many = []
    for index in range(400):
        document = copy.deepcopy(documents[index % len(documents)])
        document["comparison"] = f"{document['comparison']}-{index}"
        many.append(document)

    report = markdown_summary(many, "long suite", manifest)

    assert len(report) < GITHUB_COMMENT_LIMIT
    assert "left out to stay under GitHub's comment limit" in report
    assert "more comparisons are counted in the tally above" in report
    assert f"{len(many)} comparisons:" in report
    assert many[0]["comparison"] in report
    assert "<table>" in _render(report)


def test_progress_off_terminal_prints_result_lines_only():
    status, results = io.StringIO(), io.StringIO()
    progress = Progress(status=status, results=results)
    progress.add_draws("torch", 2)
    progress.draw_finished("torch")
    progress.start("evaluating", 1)
    progress.step("   different  case")
    progress.finish()

    assert status.getvalue() == ""
    assert results.getvalue() == "   different  case\n"


def test_progress_quiet_prints_nothing():
    status, results = io.StringIO(), io.StringIO()
    progress = Progress(quiet=True, status=status, results=results)
    progress.start("evaluating", 1)
    progress.step("        same  case")
    assert results.getvalue() == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_terminal_redraws_counts():
    status, results = _Terminal(), io.StringIO()
    progress = Progress(status=status, results=results)
    progress.add_draws("torch", 2)
    progress.add_draws("keras/jax", 1)
    progress.draw_finished("torch")
    assert "drawing: torch 1/2, keras/jax 0/1" in status.getvalue()
    progress.start("evaluating", 2)
    progress.step("a")
    assert "evaluating [############............] 1/2" in status.getvalue()
