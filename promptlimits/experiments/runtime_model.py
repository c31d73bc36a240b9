"""The measured half of the runtime claim: a cost model in operation counts, its calibration, the rule
(docs/theory.md §5.5, §9.4).

*Operation counts.* :func:`op_counts` counts, per call, what the fused
polynomial forward (docs/theory.md §3.9) and exact attention do, with
``n8 = 8 ceil(n/8)`` padded rows and ``W = 8 ceil(d/8)`` padded columns of ``V``:

* ``poly``: ``multiply_adds = 2 n8 r (W + 1)`` (key pass: one row of ``S_V``
  and of ``s_1`` per monomial and key; query pass: ``N`` and ``D``),
  ``monomials = 2 n8 r`` (one multiply per monomial and row, both passes),
  ``row_bytes = 8 n (3d + W)`` (``Q``, ``K``, ``V`` read, ``T`` written),
  ``calls = 1`` (per-call overhead);
* ``exact``: ``multiply_adds = 2 n^2 d`` (``Q K^T`` and ``P V``),
  ``exponentials = n^2`` (one ``exp`` and a few passes over each score),
  ``row_bytes = 32 n d``, ``tiles = ceil(n / EXACT_ROWS) ceil(n / EXACT_KEYS)``
  (the fixed cost of one tile's array operations), ``calls = 1``. The
  experiment times exact attention in tiles of :data:`EXACT_ROWS` queries by
  :data:`EXACT_KEYS` keys with a running softmax
  (:func:`promptlimits.attention.exact_attention_tiled`): a tile's scores and
  the slices of ``K`` and ``V`` it reads stay in a core's private cache at
  every ``n``, so every pair costs the same memory traffic. Blocks over query
  rows alone re-read all of ``K`` and ``V`` per block; past about ``n = 2^13``
  (``d = 13``) those leave the private cache and the time per pair rises by a
  quarter, which a model of operation counts calibrated on shorter sequences
  cannot predict (docs/theory.md §9.4).

*Calibration.* One non-negative coefficient (seconds per operation) per count
and algorithm, fitted once by :func:`calibrate` (``scipy.optimize.nnls`` on
relative errors) to timings at sizes and ranks that the test does not use; the
calibration records the machine (:func:`machine_id`: CPU model, core count,
package versions) and refuses to be used on another (:func:`check_calibration`).

*The rule.* For one series (a ``kappa``, or exact attention) with per-size
repeated timings, :func:`slope_gap` is the log-log slope of the per-size
minimum time minus the slope of the calibrated prediction, with a percentile
bootstrap interval (``scipy.stats.bootstrap``, each size's repeats resampled
independently); :func:`classify` reads it against a margin: inside,
consistent; disjoint, not consistent; straddling, inconclusive.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from pathlib import Path

import numpy as np

from .verdict import CONSISTENT, INCONCLUSIVE, NOT_CONSISTENT

__all__ = ["FEATURES", "EXACT_ROWS", "EXACT_KEYS", "op_counts", "machine_id", "calibrate", "predict",
           "check_calibration", "load_calibration", "slope_gap", "classify", "SLOPE_MARGIN", "BOOTSTRAP_RESAMPLES",
           "MIN_REPEATS"]

#: The operation counts of each algorithm, in the order of its coefficients.
FEATURES = {"poly": ("multiply_adds", "monomials", "row_bytes", "calls"),
            "exact": ("multiply_adds", "exponentials", "row_bytes", "tiles", "calls")}

#: Tile of exact attention as the experiment times it: 64 x 512 scores (256 KiB) and 512 rows of K and V.
EXACT_ROWS, EXACT_KEYS = 64, 512

#: Margin on |measured - predicted| log-log slope: over n = 2^9..2^15 a drift of 0.1 in the exponent is a
#: factor 64^0.1 = 1.52 between the first and last size's measured/predicted ratio (docs/theory.md §9.4).
SLOPE_MARGIN = 0.1
#: Bootstrap resamples and the least number of repeats per size the rule accepts.
BOOTSTRAP_RESAMPLES = 2000
MIN_REPEATS = 9


def _round8(x: int) -> int:
    return 8 * ((int(x) + 7) // 8)


def op_counts(algo: str, n: int, d: int, rank: int | None = None) -> dict[str, float]:
    """Operation counts of one forward call of ``algo`` on ``n`` queries and keys, head size ``d`` (module
    docstring); ``rank`` is the polynomial's ``r`` (``poly`` only)."""
    if algo not in FEATURES:
        raise ValueError(f"unknown algorithm {algo!r}: the cost model knows {sorted(FEATURES)}")
    n, d = int(n), int(d)
    if n < 1 or d < 1:
        raise ValueError(f"the cost model needs n >= 1 and d >= 1, got n = {n}, d = {d}")
    if algo == "poly":
        if rank is None or int(rank) < 1:
            raise ValueError(f"the polynomial cost model needs a rank >= 1, got {rank!r}")
        n8, W, r = _round8(n), _round8(d), int(rank)
        return {"multiply_adds": 2.0 * n8 * r * (W + 1), "monomials": 2.0 * n8 * r,
                "row_bytes": 8.0 * n * (3 * d + W), "calls": 1.0}
    tiles = -(-n // EXACT_ROWS) * -(-n // EXACT_KEYS)
    return {"multiply_adds": 2.0 * n * n * d, "exponentials": float(n) * n, "row_bytes": 32.0 * n * d,
            "tiles": float(tiles), "calls": 1.0}


def exact_call(Q, K, V):
    """Exact attention as the experiment times it: tiles of :data:`EXACT_ROWS` by :data:`EXACT_KEYS`."""
    from promptlimits.attention import exact_attention_tiled

    return exact_attention_tiled(Q, K, V, rows=EXACT_ROWS, keys=EXACT_KEYS)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _llc_bytes() -> int:
    """Size of the largest (last-level) CPU cache from sysfs; 32 MiB when the system does not say."""
    best = 0
    for idx in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (idx / "size").read_text().strip().upper()
        except OSError:
            continue
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        try:
            best = max(best, int(text.rstrip("KMG")) * mult)
        except ValueError:
            continue
    return best or 32 << 20


def machine_id() -> dict:
    """What a calibration is valid for: CPU model, core count, last-level cache, Python and package versions."""
    versions = {"python": sys.version.split()[0]}
    for mod in ("numpy", "scipy", "numba", "promptlimits"):
        try:
            versions[mod] = str(__import__(mod).__version__)
        except (ImportError, AttributeError):
            versions[mod] = "absent"
    return {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "llc_bytes": _llc_bytes(), "versions": versions}


def calibrate(rows: list[dict]) -> dict:
    """Fit seconds per operation, per algorithm, to calibration rows (``algo, n, d, rank, t``).

    Non-negative least squares on relative errors (each row weighted by
    ``1/t``), columns scaled to unit norm first; needs at least as many rows of
    an algorithm as it has counts. Returns ``{"machine", "coefficients":
    {algo: {count: s}}, "rms_rel": {algo: ...}, "points": [(algo, n, d, rank)]}``.
    """
    from scipy.optimize import nnls

    coef, rms, points = {}, {}, []
    for algo, names in FEATURES.items():
        mine = [r for r in rows if r["algo"] == algo]
        if len(mine) < len(names):
            raise ValueError(f"calibrating {algo} needs at least {len(names)} timed sizes, got {len(mine)}")
        t = np.array([r["t"] for r in mine], dtype=float)
        if not np.all(np.isfinite(t) & (t > 0)):
            raise ValueError(f"calibration times of {algo} must be finite and > 0")
        A = np.array([[op_counts(algo, r["n"], r["d"], r.get("rank"))[k] for k in names] for r in mine]) / t[:, None]
        norm = np.linalg.norm(A, axis=0)
        x = nnls(A / norm, np.ones(len(mine)))[0] / norm
        coef[algo] = dict(zip(names, (float(v) for v in x)))
        rms[algo] = float(np.sqrt(np.mean((A @ x - 1.0) ** 2)))
        points += [(algo, int(r["n"]), int(r["d"]), r.get("rank")) for r in mine]
    return {"machine": machine_id(), "coefficients": coef, "rms_rel": rms, "points": points}


def predict(calibration: dict, algo: str, n: int, d: int, rank: int | None = None) -> float:
    """Predicted seconds of one call: the calibrated coefficients times :func:`op_counts`."""
    coef = calibration["coefficients"].get(algo)
    if coef is None:
        raise ValueError(f"the calibration has no cost model for {algo}")
    counts = op_counts(algo, n, d, rank)
    missing = [k for k in counts if k not in coef]
    if missing:
        raise ValueError(f"the calibration's cost model for {algo} has no coefficient for {missing}")
    return float(sum(coef[k] * counts[k] for k in counts))


def check_calibration(calibration, where: str = "the calibration") -> dict:
    """``calibration`` if it is complete and was made on this machine with these versions; else ``ValueError``."""
    if not isinstance(calibration, dict) or not isinstance(calibration.get("coefficients"), dict):
        raise ValueError(f"{where} holds no cost-model coefficients")
    for algo, names in FEATURES.items():
        coef = calibration["coefficients"].get(algo)
        if not isinstance(coef, dict):
            raise ValueError(f"{where} has no cost model for {algo}")
        bad = [k for k in names if not (isinstance(coef.get(k), (int, float)) and math.isfinite(coef[k])
                                        and coef[k] >= 0)]
        if bad:
            raise ValueError(f"{where}: the cost model for {algo} has no valid coefficient for {bad}")
    here, there = machine_id(), calibration.get("machine") or {}
    for key in ("cpu", "cpu_count", "llc_bytes"):
        if there.get(key) != here[key]:
            raise ValueError(f"{where} was made on another machine: {key} {there.get(key)!r} there, "
                             f"{here[key]!r} here; calibrate on this machine")
    for mod, version in here["versions"].items():
        if (there.get("versions") or {}).get(mod) != version:
            raise ValueError(f"{where} was made with another version of {mod}: "
                             f"{(there.get('versions') or {}).get(mod)!r} there, {version!r} here; recalibrate")
    return calibration


def load_calibration(path) -> dict:
    """A calibration from a JSON file: a runtime sweep's sidecar or the calibration itself, checked."""
    path = Path(path)
    where = f"calibration file {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{where} cannot be read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{where} is not JSON") from None
    if isinstance(data, dict) and isinstance(data.get("summary"), dict):
        data = data["summary"].get("calibration")
    return check_calibration(data, where)


def slope_gap(ns, repeats, predicted, *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES,
              confidence: float = 0.95) -> dict:
    """Measured minus predicted log-log slope with a bootstrap interval.

    ``ns``: the sizes; ``repeats[n]``: that size's repeated per-call times
    (the estimate is their minimum); ``predicted[n]``: the model's time.
    Every size needs a prediction and at least two repeats. The interval is
    the percentile bootstrap of ``scipy.stats.bootstrap``, each size's repeats
    resampled on its own (``paired=False``), with a fixed ``seed``.
    """
    from scipy.stats import bootstrap

    ns = [int(n) for n in ns]
    if len(ns) < 2:
        raise ValueError(f"a slope needs at least 2 sizes, got {len(ns)}")
    missing = [n for n in ns if n not in predicted]
    if missing:
        raise ValueError(f"the cost model has no prediction for n = {missing}")
    samples = []
    for n in ns:
        x = np.asarray(repeats[n], dtype=float)
        if x.size < 2 or not np.all(np.isfinite(x) & (x > 0)):
            raise ValueError(f"n = {n} needs at least 2 finite positive repeated times, got {x.size}")
        samples.append(x)
    logn = np.log(ns)
    logp = np.log([predicted[n] for n in ns])
    pred_slope = float(np.polyfit(logn, logp, 1)[0])

    xc = logn - logn.mean()

    def stat(*xs, axis=-1):  # least-squares slope of log(min) against log n, for a batch of resamples
        y = np.stack([np.log(np.min(x, axis=axis)) for x in xs], axis=-1)
        return (y - y.mean(axis=-1, keepdims=True)) @ xc / (xc @ xc) - pred_slope

    point = float(stat(*samples))
    if all(np.ptp(x) == 0 for x in samples):
        lo = hi = point
    else:
        res = bootstrap(tuple(samples), stat, paired=False, vectorized=True, n_resamples=int(resamples),
                        confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return {"gap": point, "low": min(lo, point), "high": max(hi, point), "predicted_slope": pred_slope,
            "measured_slope": point + pred_slope}


def classify(low: float, high: float, margin: float = SLOPE_MARGIN) -> str:
    """``consistent`` if ``[low, high]`` lies inside ``[-margin, margin]``, ``not consistent`` if it misses it,
    ``inconclusive`` if it straddles an end."""
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ValueError(f"a confidence interval needs finite low <= high, got [{low}, {high}]")
    if -margin <= low and high <= margin:
        return CONSISTENT
    if high < -margin or low > margin:
        return NOT_CONSISTENT
    return INCONCLUSIVE
