"""Unit tests of the One ID accuracy metrics used by bench/one_id_accuracy.py (no dbt, no data)."""

import pandas as pd
import pytest

from bench.metrics import one_id_metrics


def _records(rows):
    return pd.DataFrame(rows, columns=["person_id", "one_id"])


def test_perfect_partition():
    m = one_id_metrics(_records([("p1", "a"), ("p1", "a"), ("p1", "a"), ("p2", "b"), ("p3", "c")]))
    assert (m.precision, m.recall) == (1.0, 1.0)
    assert (m.true_positive_pairs, m.predicted_pairs, m.true_pairs) == (3, 3, 3)
    assert (m.over_merged, m.under_merged) == (0, 0)
    assert (m.largest_one_id, m.largest_records, m.largest_true_persons) == ("a", 3, 1)
    assert (m.records, m.true_persons, m.predicted_persons) == (5, 3, 3)


def test_over_and_under_merging():
    # p1: 3 records, 2 in one_id a and 1 in b (under-merged).
    # p2: 2 records, both in a (a is over-merged: p1 and p2).
    # p3: 1 record in c; p4: 2 records, in d and e (under-merged).
    m = one_id_metrics(_records([
        ("p1", "a"), ("p1", "a"), ("p1", "b"),
        ("p2", "a"), ("p2", "a"),
        ("p3", "c"),
        ("p4", "d"), ("p4", "e"),
    ]))
    # cells: (p1,a)=2 -> 1, (p1,b)=1, (p2,a)=2 -> 1, (p3,c)=1, (p4,d)=1, (p4,e)=1  => TP 2
    # one_ids: a=4 -> 6, b, c, d, e = 1 each                                   => predicted 6
    # persons: p1=3 -> 3, p2=2 -> 1, p3=1, p4=2 -> 1                             => true 5
    assert (m.true_positive_pairs, m.predicted_pairs, m.true_pairs) == (2, 6, 5)
    assert m.precision == pytest.approx(2 / 6)
    assert m.recall == pytest.approx(2 / 5)
    assert m.over_merged == 1
    assert m.under_merged == 2
    assert (m.largest_one_id, m.largest_records, m.largest_true_persons) == ("a", 4, 2)


def test_all_singletons_count_as_perfect():
    m = one_id_metrics(_records([("p1", "a"), ("p2", "b")]))
    assert (m.predicted_pairs, m.true_pairs) == (0, 0)
    assert (m.precision, m.recall) == (1.0, 1.0)


def test_everything_merged():
    # 2 persons x 2 records in one one_id: TP 2, predicted C(4,2)=6, true 2.
    m = one_id_metrics(_records([("p1", "x"), ("p1", "x"), ("p2", "x"), ("p2", "x")]))
    assert m.precision == pytest.approx(2 / 6)
    assert m.recall == 1.0
    assert (m.over_merged, m.under_merged) == (1, 0)


def test_missing_values_are_rejected():
    with pytest.raises(ValueError):
        one_id_metrics(_records([("p1", None)]))


def test_recycled_over_merges_counts_both_holders_of_a_merged_number(tmp_path):
    from bench.one_id_accuracy import recycled_over_merges

    pd.DataFrame({
        "person_id": ["old1", "new1", "old2", "new2", "p5"],
        "phone": ["13100000001", "13100000001", "13100000002", "13100000002", "13100000005"],
        "trap_recycled_phone": [True, True, True, True, False],
    }).to_parquet(tmp_path / "persons.parquet")
    # Number 1's holders share one_id a; number 2's are apart (b and c); p5 is alone.
    joined = _records([("old1", "a"), ("new1", "a"), ("new1", "a"), ("old2", "b"), ("new2", "c"), ("p5", "d")])
    assert recycled_over_merges(tmp_path, joined) == (2, 2)
    joined = _records([("old1", "a"), ("new1", "e"), ("old2", "b"), ("new2", "c"), ("p5", "d")])
    assert recycled_over_merges(tmp_path, joined) == (0, 2)
