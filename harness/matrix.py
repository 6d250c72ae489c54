"""The fan audit: every layer type and variance-scaling initializer, every side against torch.

``python -m harness.matrix > suites/matrix.toml`` writes the suite; ``make matrix`` runs it into
``results/matrix/``, where `render_report` tabulates what each side did differently from
PyTorch: the fans it used, its expected and empirical std, the family its weights support.

PyTorch has no LeCun initializers; the audit compares the others' LeCun initializers with
``kaiming_*(nonlinearity=linear)``, which has the same variance rule (gain 1, fan_in).
"""

from __future__ import annotations

import sys
from typing import Any

from adapters.catalogue import VARIANCE_SCALING
from harness.report import pvalue_order

SEED = 20261204
WEIGHTS_PER_SIDE = 40_000  # enough for kurtosis and tail checks to separate truncation

# (layer, tensor, weights per layer) for every layer type, at small sizes.
AUDITED_LAYERS = [
    ("dense(in=64,out=32)", 64 * 32),
    ("conv1d(in=16,out=32,kernel=3)", 16 * 32 * 3),
    ("conv2d(in=16,out=32,kernel=3)", 16 * 32 * 9),
    ("conv3d(in=8,out=16,kernel=3)", 8 * 16 * 27),
    ("conv2d(in=16,out=32,kernel=3,groups=4)", 4 * 32 * 9),
    ("conv_transpose1d(in=16,out=32,kernel=3)", 16 * 32 * 3),
    ("conv_transpose2d(in=16,out=32,kernel=3)", 16 * 32 * 9),
    ("depthwise_conv2d(in=16,multiplier=2,kernel=3)", 32 * 9),
    ("embedding(num=64,dim=32)", 64 * 32),
    ("lstm(in=32,hidden=16).kernel", 64 * 32),
    ("lstm(in=32,hidden=16).recurrent_kernel", 64 * 16),
    ("gru(in=32,hidden=16).kernel", 48 * 32),
    ("gru(in=32,hidden=16).recurrent_kernel", 48 * 16),
    ("attention(dim=32,heads=4).query", 32 * 32),
    ("attention(dim=32,heads=4).output", 32 * 32),
]

AUDITED_SIDES = ("keras", "keras/jax", "keras/torch", "jax")

TORCH_EQUIVALENT = {
    "he_normal": "torch:kaiming_normal",
    "he_uniform": "torch:kaiming_uniform",
    "glorot_normal": "torch:xavier_normal",
    "glorot_uniform": "torch:xavier_uniform",
    "lecun_normal": "torch:kaiming_normal(nonlinearity=linear)",
    "lecun_uniform": "torch:kaiming_uniform(nonlinearity=linear)",
}


def build_suite() -> str:
    """Return the TOML text of the fan-audit suite."""
    lines = [
        "# The fan audit, written by `python -m harness.matrix`; edit that module, not this file.",
        "[suite]",
        'name = "matrix"',
        f"seed = {SEED}",
        'report = "matrix"',
        "",
    ]
    for layer, weights_per_layer in AUDITED_LAYERS:
        layers = max(2, -(-WEIGHTS_PER_SIDE // weights_per_layer))
        for initializer in VARIANCE_SCALING:
            for side in AUDITED_SIDES:
                name = f"{layer}-{initializer}-{side}"
                lines += [
                    "[[comparisons]]",
                    f'name = "{name}"',
                    f'left = "{TORCH_EQUIVALENT[initializer]}"',
                    f'right = "{side}:{initializer}"',
                    f'layer = "{layer}"',
                    f"layers = {layers}",
                    "",
                ]
    return "\n".join(lines)


def _fans(side: dict[str, Any]) -> str:
    return f"{side.get('fan_in')}/{side.get('fan_out')}"


def _family(side: dict[str, Any]) -> str:
    fit = side.get("fit") or {}
    return fit.get("supported") or side.get("reference", {}).get("family", "?")


def _disagreements(document: dict[str, Any]) -> list[str]:
    """Name what the right side does differently from the torch side."""
    torch_side, other = document["sides"]
    if document["verdict"] in ("skipped", "error"):
        return []
    found = []
    if (torch_side["fan_in"], torch_side["fan_out"]) != (other["fan_in"], other["fan_out"]):
        found.append(f"fans {_fans(other)} vs torch {_fans(torch_side)}")
    ratio = other["expected_std"] / torch_side["expected_std"] if torch_side["expected_std"] else 0
    if abs(ratio - 1.0) > 1e-6:
        found.append(f"expected std x{ratio:.3g}")
    if _family(other) != _family(torch_side):
        found.append(f"family {_family(other)} vs torch {_family(torch_side)}")
    return found


def render_report(documents: list[dict[str, Any]]) -> str:
    """Render the fan audit: disagreements first, then every comparison by layer."""
    lines = [
        "# init-harness fan audit",
        "",
        "Every side against PyTorch, for each layer type and variance-scaling initializer. ",
        "fans are fan_in/fan_out as each framework computed them for the tensor its initializer "
        "received; `family` is the family the weights support. A `different` verdict with equal "
        "fans and std is usually the truncation of Keras' and JAX's *_normal.",
        "",
        "## Disagreements with PyTorch",
        "",
        "| layer | initializer | side | what differs | verdict | deciding checks |",
        "|---|---|---|---|---|---|",
    ]
    skipped = []
    for document in documents:
        torch_side, other = document["sides"]
        layer = document["layer"]["spec"]
        initializer = other["initializer"]
        if document["verdict"] in ("skipped", "error"):
            skipped.append(f"- {layer}, {other['spec']}: {'; '.join(document['reasons'])}")
            continue
        found = _disagreements(document)
        if found or document["verdict"] == "different":
            deciding = [
                c["name"]
                for c in sorted(document["checks"], key=pvalue_order)
                if c.get("outcome") == "different"
            ]
            lines.append(
                f"| `{layer}` | {initializer} | {other['spec'].split(':')[0]} | "
                f"{'; '.join(found) or 'distribution only'} | {document['verdict']} | "
                f"{', '.join(deciding)} |"
            )
    lines += [
        "",
        "## Every comparison",
        "",
        "| layer | initializer | side | fans (side / torch) | expected std (side / torch) "
        "| std (side / torch) | family (side / torch) | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for document in documents:
        torch_side, other = document["sides"]
        if document["verdict"] in ("skipped", "error"):
            continue
        lines.append(
            f"| `{document['layer']['spec']}` | {other['initializer']} | "
            f"{other['spec'].split(':')[0]} | {_fans(other)} / {_fans(torch_side)} | "
            f"{other['expected_std']:.4g} / {torch_side['expected_std']:.4g} | "
            f"{other['summary']['std']:.4g} / {torch_side['summary']['std']:.4g} | "
            f"{_family(other)} / {_family(torch_side)} | {document['verdict']} |"
        )
    if skipped:
        lines += ["", "## Not compared", "", *skipped]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(build_suite() + "\n")
