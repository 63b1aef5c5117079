"""The statistics of calibration drift, as plain functions on plain numbers.

Residuals are judge − heuristic scores, so they lie in [-1, 1]; histograms use
fixed, equal bins over that range (the last bin includes 1.0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

RESIDUAL_LO = -1.0
RESIDUAL_HI = 1.0


def mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def sample_sd(xs: Sequence[float]) -> float | None:
    """Standard deviation with n − 1; ``None`` below two values."""
    if len(xs) < 2:
        return None
    m = mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def average_ranks(xs: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(xs)), key=xs.__getitem__)
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        shared = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = shared
        i = j + 1
    return ranks


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """``None`` when either side is constant or there are fewer than three points."""
    if len(xs) != len(ys):
        raise ValueError(f"pearson needs equal lengths, got {len(xs)} and {len(ys)}")
    if len(xs) < 3:
        return None
    mx, my = mean(xs), mean(ys)
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx == 0.0 or syy == 0.0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson on average ranks, so ties are handled)."""
    return pearson(average_ranks(xs), average_ranks(ys))


def spearman_drop_z(reference: float, n_reference: int, current: float, n_current: int) -> float:
    """How many standard errors the rank agreement fell, on Fisher's z scale.

    Uses the Fieller–Hartley–Pearson variance 1.06 / (n − 3) for Spearman's
    coefficient; positive when agreement dropped.
    """
    if n_reference <= 3 or n_current <= 3:
        raise ValueError("spearman_drop_z needs more than three pairs on each side")
    clip = 1 - 1e-9
    z_ref = math.atanh(max(-clip, min(clip, reference)))
    z_cur = math.atanh(max(-clip, min(clip, current)))
    se = math.sqrt(1.06 / (n_reference - 3) + 1.06 / (n_current - 3))
    return (z_ref - z_cur) / se


def histogram(
    values: Sequence[float], bins: int, lo: float = RESIDUAL_LO, hi: float = RESIDUAL_HI
) -> list[int]:
    """Counts over ``bins`` equal bins on [lo, hi]; values outside are clamped in."""
    counts = [0] * bins
    width = (hi - lo) / bins
    for v in values:
        counts[min(bins - 1, max(0, int((v - lo) / width)))] += 1
    return counts


def coarsen(counts: Sequence[int], factor: int) -> list[int]:
    """Merge every ``factor`` adjacent bins."""
    if len(counts) % factor:
        raise ValueError(f"{len(counts)} bins do not split into groups of {factor}")
    return [sum(counts[i : i + factor]) for i in range(0, len(counts), factor)]


def psi(current: Sequence[int], reference: Sequence[int], epsilon: float = 1e-4) -> float:
    """Population stability index of ``current`` against ``reference`` bin counts.

    Bin shares are floored at ``epsilon`` so an empty bin costs a bounded amount.
    """
    if len(current) != len(reference):
        raise ValueError("psi needs the same bins on both sides")
    n, m = sum(current), sum(reference)
    if n == 0 or m == 0:
        raise ValueError("psi needs counts on both sides")
    total = 0.0
    for c, r in zip(current, reference, strict=True):
        p, q = max(c / n, epsilon), max(r / m, epsilon)
        total += (p - q) * math.log(p / q)
    return total


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov–Smirnov statistic: max |F_a − F_b| over all values."""
    if not a or not b:
        raise ValueError("ks_statistic needs values on both sides")
    xs, ys = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    while i < len(xs) and j < len(ys):
        v = min(xs[i], ys[j])
        while i < len(xs) and xs[i] == v:
            i += 1
        while j < len(ys) and ys[j] == v:
            j += 1
        d = max(d, abs(i / len(xs) - j / len(ys)))
    return d


def ks_from_counts(a: Sequence[int], b: Sequence[int]) -> float:
    """The KS statistic of two samples binned on the same grid, evaluated at bin edges."""
    if len(a) != len(b):
        raise ValueError("ks_from_counts needs the same bins on both sides")
    n, m = sum(a), sum(b)
    if n == 0 or m == 0:
        raise ValueError("ks_from_counts needs counts on both sides")
    ca = cb = 0
    d = 0.0
    for x, y in zip(a, b, strict=True):
        ca += x
        cb += y
        d = max(d, abs(ca / n - cb / m))
    return d


def ks_critical(n: int, m: int, coefficient: float) -> float:
    """The large-sample critical value c·sqrt((n + m) / (n·m)) of the two-sample KS test.

    ``coefficient`` is c(α) = sqrt(−ln(α/2) / 2): 1.36 for α = 0.05, 1.95 for 0.001.
    """
    return coefficient * math.sqrt((n + m) / (n * m))
