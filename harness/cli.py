"""Command line: ``init-harness compare``, ``run``, ``check`` and ``list``.

Exit codes of ``compare`` and ``run``: 0 when the comparisons ran, whatever their verdicts (a
difference is a finding); 2 for invalid input, reported in one line before anything is written;
1 for an unexpected failure of the harness itself. ``check`` has its own codes, listed in
`harness.gate`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from harness import __version__
from harness.checks import Margins
from harness.decision import DEFAULT_ALPHA
from harness.progress import Progress
from harness.run import run_comparisons
from harness.specs import (
    ComparisonSpec,
    SpecError,
    check_alpha,
    check_positive,
    check_sample_size,
    check_seed,
    parse_layer,
    parse_side,
    slug,
)
from harness.suite import PlannedComparison, apply_margins, load_suite

logger = logging.getLogger(__name__)


def _parse_margin_options(values: list[str]) -> dict[str, float]:
    overrides = {}
    for text in values:
        name, sep, value = text.partition("=")
        try:
            overrides[name.strip()] = float(value) if sep else None
        except ValueError:
            raise SpecError(f"invalid --margin {text!r}; expected NAME=NUMBER") from None
        if overrides[name.strip()] is None:
            raise SpecError(f"invalid --margin {text!r}; expected NAME=NUMBER")
    return overrides


def _command_compare(arguments: argparse.Namespace) -> list[PlannedComparison]:
    left, right = parse_side(arguments.left), parse_side(arguments.right)
    layer = parse_layer(arguments.layer)
    spec = ComparisonSpec(
        name=slug(arguments.name or f"{left.text}-vs-{right.text}"),
        left=left,
        right=right,
        layer=layer,
        layers=check_positive("layers", arguments.layers),
        seed=check_seed(arguments.seed),
    )
    check_sample_size(layer, spec.layers)
    margins = apply_margins(Margins(), _parse_margin_options(arguments.margin), "--margin")
    return [PlannedComparison(spec, margins)]


def _command_list() -> int:
    from harness.listing import render

    print(render())
    return 0


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="init-harness",
        description=(
            "Compare how two frameworks initialise the same layer, with statistical evidence."
        ),
    )
    parser.add_argument("--version", action="version", version=f"init-harness {__version__}")
    # Verbosity is accepted after the subcommand, where users type it.
    logging_options = argparse.ArgumentParser(add_help=False)
    verbosity = logging_options.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log each step")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    commands = parser.add_subparsers(dest="command", required=True)

    compare = commands.add_parser(
        "compare", help="compare two sides on one layer", parents=[logging_options]
    )
    compare.add_argument("left", help="side, e.g. torch:kaiming_normal(mode=fan_in)")
    compare.add_argument("right", help="side, e.g. keras/jax:he_normal")
    compare.add_argument("--layer", required=True, help="layer, e.g. dense(in=16,out=16)")
    compare.add_argument(
        "--layers", type=int, default=100, help="layers drawn per side (default 100)"
    )
    compare.add_argument(
        "--seed",
        type=int,
        default=0,
        help="comparison seed (default 0); side seeds derive from it and the name",
    )
    compare.add_argument("--name", help="comparison name, used for the verdict file name")
    compare.add_argument(
        "--margin",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an equivalence margin; names: "
        + ", ".join(f"{name} ({Margins.unit(name)})" for name in Margins.names()),
    )
    compare.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"family-wise significance level (default {DEFAULT_ALPHA:g})",
    )
    _add_output(compare)

    check = commands.add_parser(
        "check",
        help="compare a results folder with a baseline (the regression gate)",
        parents=[logging_options],
    )
    check.add_argument("current", type=Path, help="results folder of the run to check")
    check.add_argument("--baseline", type=Path, required=True, help="baseline results folder")
    check.add_argument(
        "--update-baseline",
        action="store_true",
        help="replace the baseline with the current results instead of checking",
    )

    run = commands.add_parser(
        "run", help="run a suite file of comparisons", parents=[logging_options]
    )
    run.add_argument("suite", type=Path, help="suite TOML file, e.g. suites/default.toml")
    _add_output(run)

    commands.add_parser(
        "list",
        help="print the sides, initializers and layers this install can run",
        parents=[logging_options],
    )
    return parser


def _add_output(subparser: argparse.ArgumentParser) -> None:
    subparser.add_argument(
        "--out", type=Path, required=True, help="output folder for verdicts and report.md"
    )
    subparser.add_argument(
        "--jobs", type=int, default=2, help="worker processes run at once (default 2)"
    )
    subparser.add_argument("--no-plots", action="store_true", help="write no PNG plots")


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    level = logging.WARNING
    if arguments.verbose:
        level = logging.INFO
    elif arguments.quiet:
        level = logging.ERROR
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")

    try:
        if arguments.command == "list":
            return _command_list()
        if arguments.command == "check":
            return _command_check(arguments)
        if arguments.command == "compare":
            planned = _command_compare(arguments)
            alpha = check_alpha(arguments.alpha)
            title, report = planned[0].spec.name, "summary"
        else:
            suite = load_suite(arguments.suite)
            planned, alpha, title = suite.comparisons, suite.alpha, f"suite {suite.name}"
            report = suite.report
        check_positive("jobs", arguments.jobs)
        if arguments.out.exists() and not arguments.out.is_dir():
            raise SpecError(f"output folder {arguments.out} exists and is not a folder")
        try:
            arguments.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SpecError(
                f"cannot create output folder {arguments.out}: {error.strerror}"
            ) from None
    except SpecError as error:
        print(f"init-harness: error: {error}", file=sys.stderr)
        return 2

    run_comparisons(
        planned,
        alpha=alpha,
        out=arguments.out,
        title=title,
        jobs=arguments.jobs,
        report=report,
        plots=not arguments.no_plots,
        progress=Progress(quiet=arguments.quiet),
    )
    return 0


def _command_check(arguments: argparse.Namespace) -> int:
    from harness import gate

    if arguments.update_baseline:
        try:
            count = gate.update_baseline(arguments.current, arguments.baseline)
        except gate.ResultsError as error:
            print(f"init-harness: error: invalid results file: {error}", file=sys.stderr)
            return gate.INVALID
        print(f"baseline {arguments.baseline} now holds {count} comparisons")
        return 0
    result = gate.check(arguments.current, arguments.baseline)
    stream = sys.stdout if result.exit_code == 0 else sys.stderr
    for line in result.lines:
        print(line, file=stream)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
