"""Input validation shared by every public entry point.

Every check raises ``ValueError`` (or ``TypeError`` for a wrong kind of object)
with a message that names the argument and the problem; nothing is silently
broadcast, cast from a non-numeric type or clipped.
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def as_float_array(x, name: str, *, ndim=None, dtype=None) -> np.ndarray:
    """Return ``x`` as a finite real float array, checking its rank.

    ``ndim`` may be an int or a tuple of allowed ranks. Integer and bool
    inputs are converted to float64; float32 stays float32 unless ``dtype``
    asks otherwise. NaN and inf raise ``ValueError``.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
    a = np.asarray(x)
    if a.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {a.dtype}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    elif a.dtype.kind != "f" or a.dtype not in FLOAT_DTYPES:
        a = a.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if a.ndim not in allowed:
            want = " or ".join(str(k) for k in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} contains {bad} NaN or infinite entries")
    return a


def check_choice(value, name: str, choices) -> str:
    """Check that ``value`` is one of ``choices`` (strings)."""
    if value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}; expected one of {opts}")
    return value


def check_positive_int(value, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Check that ``value`` is an integer >= ``minimum`` (and <= ``maximum``); bool is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def check_real(value, name: str, *, low=None, high=None, low_open: bool = False, high_open: bool = False) -> float:
    """Check that ``value`` is a finite real number in the interval given by ``low`` / ``high``.

    Each bound is optional, closed by default and open with ``low_open`` /
    ``high_open``; bool, strings and arrays are refused with ``TypeError``.
    The message names the argument and the interval, e.g.
    ``"eps must lie in (0, 1), got 2.0"`` or ``"R must be finite and >= 0, got -1.0"``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    too_low = low is not None and (v <= low if low_open else v < low)
    too_high = high is not None and (v >= high if high_open else v > high)
    if np.isfinite(v) and not too_low and not too_high:
        return v
    if low is not None and high is not None:
        want = f"lie in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        want = f"be finite and {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        want = f"be finite and {'<' if high_open else '<='} {high:g}"
    else:
        want = "be finite"
    raise ValueError(f"{name} must {want}, got {value}")


def check_positive_float(value, name: str, *, allow_zero: bool = False) -> float:
    """Check that ``value`` is a finite real number > 0 (or >= 0)."""
    return check_real(value, name, low=0.0, low_open=not allow_zero)


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


def as_generator(seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed, a SeedSequence, or a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer, np.random.SeedSequence)) and not isinstance(seed, bool):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a SeedSequence or a numpy Generator, got {type(seed).__name__}")


def check_open_interval(value, name: str, low: float, high: float) -> float:
    """Check that ``value`` is a finite real number with ``low < value < high``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not (np.isfinite(v) and low < v < high):
        raise ValueError(f"{name} must lie in ({low:g}, {high:g}), got {value}")
    return v


#: Share of the machine's physical memory that one piece of work may be estimated to need.
MEMORY_FRACTION = 0.8


def physical_memory() -> int | None:
    """Bytes of physical memory (``SC_PHYS_PAGES * SC_PAGE_SIZE``), or ``None`` where unknown."""
    import os

    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def check_memory(nbytes: int, what: str, *, fraction: float = MEMORY_FRACTION) -> None:
    """Refuse work estimated to need ``nbytes`` bytes, above ``fraction`` of physical memory.

    ``what`` names the work and the sizes that set it (e.g. ``"tuning with
    --batch 10^12, --L 2"``). Sizes are Python ints, so no estimate overflows.
    """
    total = physical_memory()
    if total is not None and nbytes > fraction * total:
        raise ValueError(f"{what} needs about {_gigabytes(nbytes)} of memory, more than {fraction:.0%} of "
                         f"this machine's {_gigabytes(total)}")


def _gigabytes(nbytes) -> str:
    return f"{nbytes / 1e9:.3g} GB"


def check_finite(value, name: str) -> float:
    """Check that ``value`` is a finite real number (any sign)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return v


#: Entries of one chunk of exact attention scores (4M = 32 MiB in float64): ``promptlimits.attention``
#: chunks its query rows so, and the memory estimates count it.
SCORE_BLOCK = 1 << 22


def attention_bytes(n: int, d: int, *, arrays: int = 12) -> int:
    """About the bytes of attention on ``n`` rows of width ``d``: ``arrays`` ``n x d`` arrays, 6 score chunks."""
    return 8 * (arrays * n * d + 6 * max(SCORE_BLOCK, n))
