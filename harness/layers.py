"""Checks that treat the drawn layers as samples: repeats, correlation, spread and positions.

Pooling every weight of every layer is only valid when layers are independent and identically
drawn, element by element. These checks test that assumption on one side's weights, arranged as
a (layers, positions) matrix:

================================  ===========================================================
check                             H0 / H1
================================  ===========================================================
layer_repeats                     no two layers are identical / some are (a reused seed)
layer_correlation                 layers are uncorrelated / some pair is correlated
layer_mean_spread                 all layers share one mean / some layer's mean is shifted
layer_std_spread                  all layers share one spread / some layer's spread differs
position_mean_spread              every element position shares one mean / some does not
position_std_spread               every element position shares one spread / some does not
================================  ===========================================================

The spread checks compare the variance of the per-group means or variances with its value under
H0 (see `_homogeneity`). All p-values are asymptotic and assume independent elements, so they do
not apply to orthogonal initializers.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from harness.checks import Check

# Below this many groups, the homogeneity ratio is referred to a chi-squared distribution; from
# it on, to a normal whose standard error comes from the group statistics' kurtosis.
_CHI_SQUARED_GROUPS = 100

# Values per group from which the group means or variances are close enough to normal for the
# chi-squared reference; measured on uniform and normal draws at the 1e-3 level.
_CHI_SQUARED_MEMBERS = {"mean": 10, "variance": 30}

# Seed of the shuffle that estimates the group statistics' kurtosis under H0; fixed so that a
# verdict file depends on the drawn weights alone.
_SHUFFLE_SEED = 20261204


def _check(name: str, scope: str, statistic: float, pvalue: float, description: str, **details):
    return Check(
        name=name,
        scope=scope,
        statistic=float(statistic),
        pvalue=float(min(1.0, max(0.0, pvalue))),
        estimate=float(statistic),
        interval=None,
        margin=None,
        unit="statistic",
        min_detectable_effect=None,
        description=description,
        can_show_equivalence=False,
        details=details,
    )


def _group_statistic(values: np.ndarray, statistic: str) -> np.ndarray:
    if statistic == "mean":
        return values.mean(axis=1)
    return values.var(axis=1, ddof=1)


def _homogeneity(values: np.ndarray, statistic: str) -> tuple[float, float] | None:
    """Test H0 "every row of `values` draws from one distribution" on one group statistic.

    Each of the k rows (groups) of m values gives its mean or its unbiased variance. Under H0
    these are i.i.d. with a known variance: sigma^2 / m for means, and
    sigma^4 (kurtosis / m + 2 / (m - 1)) for variances, where sigma^2 and the excess kurtosis
    come from all values pooled. R, the observed variance of the group statistics over that
    expected variance, is then close to 1; a larger R means the groups differ.

    With few groups, each of many values, the group statistics are near normal and (k - 1) R is
    referred to chi-squared with k - 1 degrees of freedom. With many groups, R is referred to a
    normal whose standard error needs the kurtosis of the group statistics under H0: it is taken
    from the same statistics after one fixed-seed shuffle of all values across groups, which
    makes H0 true whatever the data, so a real group effect cannot inflate the error and hide
    itself. Returns (R, one-sided p-value), or None when there are too few groups for the normal
    approximation and too few values per group for the chi-squared one.
    """
    groups, members = values.shape
    grand = values.mean()
    variance = values.var()
    if variance == 0 or groups < 2:
        return 1.0, 1.0
    if statistic == "mean":
        expected = variance / members
    else:
        kurtosis = float(np.mean((values - grand) ** 4) / variance**2 - 3.0)
        expected = variance**2 * (kurtosis / members + 2.0 / (members - 1))
    ratio = float(_group_statistic(values, statistic).var(ddof=1) / expected)
    degrees = groups - 1
    if groups < _CHI_SQUARED_GROUPS:
        if members < _CHI_SQUARED_MEMBERS[statistic]:
            return None
        return ratio, float(stats.chi2.sf(degrees * ratio, degrees))

    shuffled = np.random.default_rng(_SHUFFLE_SEED).permutation(values.ravel())
    null_statistics = _group_statistic(shuffled.reshape(values.shape), statistic)
    centred = null_statistics - null_statistics.mean()
    fourth = float(np.mean(centred**4) / np.mean(centred**2) ** 2)
    standard_error = math.sqrt(max(fourth - 1.0, 1e-12) / groups + 2.0 / (groups * degrees))
    return ratio, float(special.ndtr(-(ratio - 1.0) / standard_error))


def layer_checks(weights: np.ndarray, *, scope: str) -> list[Check]:
    """Run the layer-as-sample checks on (layers, *shape) weights; needs at least 2 layers."""
    layers = weights.shape[0]
    if layers < 2:
        return []
    matrix = np.asarray(weights, dtype=np.float64).reshape(layers, -1)
    positions = matrix.shape[1]
    checks = []

    # Hashing each layer's bytes finds exact repeats in linear time.
    distinct = len({row.tobytes() for row in matrix})
    repeats = layers - distinct
    checks.append(
        _check(
            "layer_repeats",
            scope,
            repeats,
            0.0 if repeats else 1.0,
            "layers identical to another layer; continuous draws never repeat",
            repeated_layers=repeats,
        )
    )

    if positions >= 4:
        centred = matrix - matrix.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(centred, axis=1)
        norms[norms == 0] = 1.0
        unit = centred / norms[:, None]
        correlation = unit @ unit.T
        upper = correlation[np.triu_indices(layers, k=1)]
        largest = float(np.max(np.abs(upper)))
        # For independent normal vectors r sqrt((P - 2) / (1 - r^2)) follows Student's t with
        # P - 2 degrees of freedom; Bonferroni over all pairs.
        r = min(largest, 1.0 - 1e-15)
        t_score = r * math.sqrt((positions - 2) / (1.0 - r * r))
        pvalue = upper.size * 2.0 * stats.t.sf(t_score, positions - 2)
        checks.append(
            _check(
                "layer_correlation",
                scope,
                largest,
                pvalue,
                "largest |correlation| between two layers",
                pairs=int(upper.size),
            )
        )

    for axis, label, members in ((1, "layer", positions), (0, "position", layers)):
        grouped = matrix if axis == 1 else matrix.T
        if members < 2 or grouped.shape[0] < 2:
            continue
        for statistic, check_name in (("mean", "mean"), ("variance", "std")):
            result = _homogeneity(grouped, statistic)
            if result is None:
                continue
            ratio, pvalue = result
            checks.append(
                _check(
                    f"{label}_{check_name}_spread",
                    scope,
                    ratio,
                    pvalue,
                    f"variance of per-{label} {statistic}s over its value under H0",
                )
            )
    return checks
