"""The fixed settings of a sweep at one scale, with checked overrides."""

from __future__ import annotations


def scaled_settings(scale: str, scales, defaults: dict, budget: dict, overrides: dict) -> dict:
    """``defaults`` updated with ``budget[scale]`` and then ``overrides``.

    Raises ``ValueError`` naming an unknown scale or unknown override keys, so
    a misspelt setting never silently keeps its default.
    """
    if scale not in scales:
        raise ValueError(f"unknown scale {scale!r}; expected one of {tuple(scales)}")
    fixed = {**defaults, **budget[scale]}
    unknown = sorted(set(overrides) - set(fixed))
    if unknown:
        raise ValueError(f"unknown overrides {unknown}; expected some of {sorted(fixed)}")
    fixed.update(overrides)
    return fixed
