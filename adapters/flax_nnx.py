"""JAX adapter through Flax NNX layers (being written; see the note in draw)."""

from __future__ import annotations

from adapters.base import Draw, DrawRequest, InitializerInfo

framework = "jax"
backends: tuple[str | None, ...] = (None,)
packages = {None: ("jax", "flax")}
initializers: dict[str, InitializerInfo] = {}
choices: dict[str, tuple[str, ...]] = {}
numeric: tuple[str, ...] = ()


def draw(request: DrawRequest) -> Draw:
    # TODO: draw through flax.nnx layers; until then every jax side fails with this error.
    raise NotImplementedError("the jax adapter does not draw yet")
