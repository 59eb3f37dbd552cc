"""The audit's rank correlation, against a hand computation, and its two selections."""

from __future__ import annotations

import pytest

from aesweep.sweeps.stopping import StoppingRow, _best, spearman


def test_spearman_matches_the_hand_computation() -> None:
    rung = [3.0, 1.0, 4.0, 1.5, 5.0]  # ranks 3 1 4 2 5
    final = [2.0, 1.0, 5.0, 3.0, 4.0]  # ranks 2 1 5 3 4
    d2 = (3 - 2) ** 2 + 0 + (4 - 5) ** 2 + (2 - 3) ** 2 + (5 - 4) ** 2  # 4
    hand = 1 - 6 * d2 / (5 * (5**2 - 1))  # 0.8
    assert spearman(rung, final) == pytest.approx(hand) == pytest.approx(0.8)
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert spearman([1.0, 2.0], [1.0, 2.0]) is None  # too few to rank


def test_the_audit_tells_whether_stopping_changed_the_selection() -> None:
    pairs = [("a", 1.0, 0.9), ("b", 2.0, 0.5), ("c", 3.0, 0.7)]
    row = StoppingRow("g", 5, pairs, ["b"], spearman([1, 2, 3], [0.9, 0.5, 0.7]), "b", "c")
    assert _best(pairs, 1.0) == "b" and _best(pairs, -1.0) == "a"
    assert row.same is False and row.as_dict()["same_selection"] is False
