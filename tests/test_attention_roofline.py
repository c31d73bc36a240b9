"""``bench attention --roofline``: the per-row counts against the bench's flop count, and its table."""

import numpy as np
import pytest

import promptlimits.benchmarks.attention as bench_attention
import promptlimits.benchmarks.attention_roofline as rl
from promptlimits.cli import main
from promptlimits.poly_attention import make_plan


@pytest.mark.parametrize("r, d, dv", [(1, 1, 1), (165, 8, 8), (495, 8, 8), (45, 4, 3), (84, 6, 17)])
def test_counts_add_up_to_the_bench_flops_and_never_exceed_the_issued_lanes(r, d, dv):
    c = rl.counts(r, d, dv)
    assert set(c) == {"key", "query", "bwd_query", "bwd_key"}
    assert c["key"][0] + c["query"][0] == 4 * r * dv  # the forward table's 4 n r d_v
    assert c["key"][0] + c["bwd_query"][0] + c["bwd_key"][0] == 12 * r * dv  # the backward's 12 n r d_v
    for flop, ops, streamed, cache in c.values():
        assert 2 * ops >= flop  # every useful flop is a lane of an issued FMA: ceiling <= 1
        assert streamed >= 8 * (d + dv) and cache >= 8 * r * dv


def test_key_pass_lanes_match_the_numpy_twin_operation_count():
    """The key pass's ``ops`` is what the blocks of :mod:`._simd_python` execute, counted lane by lane."""
    from promptlimits.poly_attention import _simd_python as py

    plan = make_plan(3, 0.5, eps_p=1e-3)
    runs, r = plan._index
    products = sum(int(length) for _, _, length, _ in runs)  # one vector product per monomial after the first
    assert products == r - 1
    X = np.zeros((8, 3))
    M, xb = np.empty((r, 8)), np.empty((3, 8))
    py.monomials(X, 0, runs, xb, M)
    # rows_update on one tile: r rows of 8 FMAs, plus one FMA per row for the lane sums
    fmas = r * 8 + r
    assert rl.counts(r, 3, 8)["key"][1] == products + fmas


def test_roofline_table_has_every_pass(monkeypatch, capsys):
    monkeypatch.setattr(rl, "_BUDGET", 0.0)  # one timed call each
    monkeypatch.setattr(rl, "_copy_bandwidth", lambda rng: 1.0)  # 64 MiB copies: not what is tested here
    rl.roofline([make_plan(4, 0.5, eps_p=1e-3)], 64, np.random.default_rng(0))
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("0.5")]
    assert [row[2] for row in rows] == ["key", "query", "bwd_query", "bwd_key", "forward", "backward"]
    for row in rows:
        assert 0.0 < float(row[5]) <= 1.0 and np.isfinite(float(row[9])) and float(row[9]) > 0.0


def test_roofline_rows_must_be_a_multiple_of_8(monkeypatch, capsys):
    monkeypatch.setattr(bench_attention, "make_plan", lambda *a, **k: pytest.fail("work before the check"))
    assert main(["bench", "attention", "--roofline", "--roofline-rows", "12"]) == 2
    assert "--roofline-rows must be a multiple of 8, got 12" in capsys.readouterr().err


def test_walk_table_times_every_pass_and_finds_the_same_forward_bits(monkeypatch, capsys):
    monkeypatch.setattr(rl, "_BUDGET", 0.0)
    assert main(["bench", "walk", "--d", "3", "--degrees", "2", "5", "--n", "72"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert [(int(r[0]), int(r[1]), r[3]) for r in rows] == [(g, r, p) for g, r in ((2, 10), (5, 56))
                                                            for p in ("key", "bwd_query", "bwd_key")]
    for row in rows:
        assert row[2] == "no" and all(float(x) > 0 for x in row[4:9])  # small ranks: the plans keep the blocks
        if row[3] == "key":
            assert row[9:] == ["same", "bits"]
        else:
            assert float(row[9]) < 1e-12  # the backward sums in another order: rounding apart
