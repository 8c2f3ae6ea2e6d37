"""Pairwise accuracy of a predicted partition (one_id) against a true one (person_id).

Pairs are never enumerated: with n_ij records of true person i under predicted one_id j,
a_j records under one_id j and b_i records of person i,

    true positives  = sum C(n_ij, 2)
    predicted pairs = sum C(a_j, 2)      precision = TP / predicted pairs
    true pairs      = sum C(b_i, 2)      recall    = TP / true pairs

(an empty denominator counts as 1.0: nothing to get wrong).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class OneIdMetrics:
    records: int
    true_persons: int
    predicted_persons: int
    true_positive_pairs: int
    predicted_pairs: int
    true_pairs: int
    precision: float
    recall: float
    over_merged: int          # predicted one_ids holding records of more than one true person
    under_merged: int         # true persons whose records are split over more than one one_id
    largest_records: int      # records in the largest predicted one_id
    largest_true_persons: int  # distinct true persons in it
    largest_one_id: object

    def as_dict(self) -> dict:
        return asdict(self)


def _pairs(counts: pd.Series) -> int:
    n = counts.astype("int64")
    return int((n * (n - 1) // 2).sum())


def one_id_metrics(records: pd.DataFrame, truth_col: str = "person_id",
                   pred_col: str = "one_id") -> OneIdMetrics:
    """records: one row per source record with its true person and predicted one_id (no nulls)."""
    if records[[truth_col, pred_col]].isna().any().any():
        raise ValueError("every record needs a true person and a predicted one_id")
    cells = records.groupby([truth_col, pred_col], sort=False).size()
    per_pred = cells.groupby(level=pred_col, sort=False).agg(["sum", "size"])
    per_true = cells.groupby(level=truth_col, sort=False).agg(["sum", "size"])
    true_positive_pairs = _pairs(cells)
    predicted_pairs = _pairs(per_pred["sum"])
    true_pairs = _pairs(per_true["sum"])
    if len(per_pred):
        largest = per_pred.sort_values(["sum", "size"], ascending=False).iloc[:1]
        largest_one_id, largest_records, largest_persons = (
            largest.index[0], int(largest["sum"].iloc[0]), int(largest["size"].iloc[0]))
    else:
        largest_one_id, largest_records, largest_persons = None, 0, 0
    return OneIdMetrics(
        records=len(records),
        true_persons=len(per_true),
        predicted_persons=len(per_pred),
        true_positive_pairs=true_positive_pairs,
        predicted_pairs=predicted_pairs,
        true_pairs=true_pairs,
        precision=true_positive_pairs / predicted_pairs if predicted_pairs else 1.0,
        recall=true_positive_pairs / true_pairs if true_pairs else 1.0,
        over_merged=int((per_pred["size"] > 1).sum()),
        under_merged=int((per_true["size"] > 1).sum()),
        largest_records=largest_records,
        largest_true_persons=largest_persons,
        largest_one_id=largest_one_id,
    )
