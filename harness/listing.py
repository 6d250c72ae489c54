"""``init-harness list``: what this installation can run, read without importing a framework."""

from __future__ import annotations

from importlib import metadata

from adapters import FRAMEWORKS, adapter_for, missing_packages
from adapters.catalogue import DEFAULT_DTYPE, DTYPES, INITIALIZER_NAMES, LAYERS

# Distribution names whose versions describe a side; the first one installed is reported.
_DISTRIBUTIONS = {
    "torch": ("torch",),
    "keras": ("keras",),
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "jax": ("jax",),
    "flax": ("flax",),
}


def _version(package: str) -> str | None:
    for distribution in _DISTRIBUTIONS.get(package, (package,)):
        try:
            return f"{distribution} {metadata.version(distribution)}"
        except metadata.PackageNotFoundError:
            continue
    return None


def sides() -> list[str]:
    lines = []
    for framework in FRAMEWORKS:
        adapter = adapter_for(framework)
        for backend in adapter.backends:
            if backend is None and len(adapter.backends) > 1:
                continue  # `keras` alone is the tensorflow backend, listed as such
            label = framework if backend is None else f"{framework}/{backend}"
            missing = missing_packages(framework, backend)
            if missing:
                state = f"not installed: {', '.join(missing)}"
            else:
                versions = [_version(p) for p in adapter.packages[backend]]
                state = ", ".join(v for v in versions if v)
            lines.append(f"  {label:<17} {state}")
    return lines


def initializers() -> list[str]:
    frameworks = list(FRAMEWORKS)
    width = max(len(name) for name in INITIALIZER_NAMES) + 2
    lines = ["  " + "common name".ljust(width) + "".join(f.ljust(18) for f in frameworks)]
    for common, names in INITIALIZER_NAMES.items():
        cells = []
        for framework in frameworks:
            own = names.get(framework)
            offered = own is not None and own in adapter_for(framework).initializers
            cells.append((own if offered else "-").ljust(18))
        lines.append("  " + common.ljust(width) + "".join(cells))
    return lines


def own_initializers() -> list[str]:
    lines = []
    for framework in FRAMEWORKS:
        for name, info in adapter_for(framework).initializers.items():
            arguments = f"({', '.join(info.arguments)})" if info.arguments else ""
            lines.append(f"  {framework}:{name}{arguments}  {info.description}".rstrip())
    return lines


def no_counterparts() -> list[str]:
    lines = []
    for framework in FRAMEWORKS:
        adapter = adapter_for(framework)
        names = [
            common
            for common, own in INITIALIZER_NAMES.items()
            if own.get(framework) is None or own[framework] not in adapter.initializers
        ]
        if names:
            lines.append(f"  {framework}: initializers {', '.join(names)}")
        for what, reason in getattr(adapter, "no_counterpart", {}).items():
            lines.append(f"  {framework}: {what}: {reason}")
    return lines


def layers() -> list[str]:
    lines = []
    for kind, layer in LAYERS.items():
        sizes = [f"{s}=N" for s in layer.required] + [
            f"{s}={v}" for s, v in layer.optional.items()
        ]
        tensors = ", ".join(f"{name} {layout}" for name, (layout, _) in layer.tensors.items())
        lines.append(f"  {kind}({','.join(sizes)})  tensors: {tensors}")
    return lines


def render() -> str:
    dtypes = ", ".join(f"{d} (default)" if d == DEFAULT_DTYPE else d for d in DTYPES)
    sections = [
        ("sides (FRAMEWORK[/BACKEND]; `keras` alone means keras/tensorflow)", sides()),
        ("dtypes (side suffix @DTYPE)", [f"  {dtypes}"]),
        ("layers (LAYER[.TENSOR], first tensor by default; canonical layouts)", layers()),
        ("initializers by common name (- = no counterpart)", initializers()),
        ("each framework's own names and arguments", own_initializers()),
        (
            "no counterpart (such sides are skipped, or end in error, with this reason)",
            no_counterparts(),
        ),
    ]
    out = []
    for title, lines in sections:
        out.append(f"{title}:")
        out.extend(lines)
    return "\n".join(out)
