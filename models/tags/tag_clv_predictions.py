"""Per person who bought: P(alive), expected purchases in the next days and the discounted CLV
over the next months, from the fits in tag_clv_model_fits (BG/NBD for purchases, Gamma-Gamma for the
spend per purchase). Formulas: Fader, Hardie and Lee 2005 (BG/NBD eq. 10 and 13) and Fader and
Hardie 2013 (the conditional expected spend of the Gamma-Gamma model).

DuckDB only: dbt-spark's session method cannot run Python models (see _tags__models.yml).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import hyp2f1

DAYS_PER_MONTH = 365.25 / 12


def p_alive(r, alpha, a, b, frequency, recency, tenure):
    """P(still alive | x, t_x, T) (FHL 2005, eq. 13); 1 for a customer with no repeat purchase."""
    x = np.asarray(frequency, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds_dropped = np.where(
            x > 0,
            a / (b + x - 1) * ((alpha + tenure) / (alpha + recency)) ** (r + x),
            0.0,
        )
    return 1.0 / (1.0 + odds_dropped)


def expected_purchases(r, alpha, a, b, frequency, recency, tenure, periods):
    """E[purchases in the next `periods` | x, t_x, T] (FHL 2005, eq. 10)."""
    x = np.asarray(frequency, dtype=float)
    tenure = np.asarray(tenure, dtype=float)
    if periods <= 0:
        return np.zeros_like(x)
    z = periods / (alpha + tenure + periods)
    hyper = hyp2f1(r + x, b + x, a + b + x - 1, z)
    first = (a + b + x - 1) / (a - 1)
    second = 1 - ((alpha + tenure) / (alpha + tenure + periods)) ** (r + x) * hyper
    return first * second * p_alive(r, alpha, a, b, x, recency, tenure)


def expected_average_spend(p, q, v, frequency, average_spend):
    """E[spend per purchase | x repeat purchases of mean m]: a weighted mean of the population
    mean v p / (q - 1) and the customer's own mean (Gamma-Gamma; needs q > 1)."""
    x = np.asarray(frequency, dtype=float)
    m = np.where(x > 0, np.nan_to_num(np.asarray(average_spend, dtype=float)), 0.0)
    population_mean = v * p / (q - 1)
    weight = p * x / (p * x + q - 1)
    return (1 - weight) * population_mean + weight * m


def clv(bg_nbd, gamma_gamma, frequency, recency, tenure, average_spend, period_days, months,
        monthly_discount_rate):
    """Sum over the next `months` of the purchases expected in each month times the expected
    spend per purchase, discounted by `monthly_discount_rate` per month."""
    spend = expected_average_spend(*gamma_gamma, frequency, average_spend)
    total = np.zeros(len(np.asarray(frequency)))
    previous = np.zeros_like(total)
    for month in range(1, months + 1):
        periods = month * DAYS_PER_MONTH / period_days
        cumulative = expected_purchases(*bg_nbd, frequency, recency, tenure, periods)
        total += (cumulative - previous) / (1 + monthly_discount_rate) ** month
        previous = cumulative
    return total * spend


def predictions(summary: pd.DataFrame, fits: pd.DataFrame, purchase_days, months,
                monthly_discount_rate) -> pd.DataFrame:
    by_model = fits.set_index("model_name")
    bg_nbd = tuple(by_model.loc["bg_nbd", ["r", "alpha", "a", "b"]].astype(float))
    gamma_gamma = tuple(by_model.loc["gamma_gamma", ["p", "q", "v"]].astype(float))
    x = summary["repeat_purchase_count"].to_numpy(dtype=float)
    t_x = summary["recency_periods"].to_numpy(dtype=float)
    big_t = summary["tenure_periods"].to_numpy(dtype=float)
    spend = summary["repeat_purchase_average_spend"].to_numpy(dtype=float)
    period_days = float(summary["period_days"].iloc[0]) if len(summary) else 1.0
    frame = pd.DataFrame({"one_id": summary["one_id"]})
    if np.all(np.isfinite(bg_nbd)):
        frame["p_alive"] = np.round(p_alive(*bg_nbd, x, t_x, big_t), 6)
        frame["expected_purchases"] = np.round(
            expected_purchases(*bg_nbd, x, t_x, big_t, purchase_days / period_days), 6)
    else:
        frame["p_alive"] = np.nan
        frame["expected_purchases"] = np.nan
    if np.all(np.isfinite(bg_nbd)) and np.all(np.isfinite(gamma_gamma)) and gamma_gamma[1] > 1:
        frame["expected_average_spend"] = np.round(
            expected_average_spend(*gamma_gamma, x, spend), 2)
        frame["clv"] = np.round(
            clv(bg_nbd, gamma_gamma, x, t_x, big_t, spend, period_days, months,
                monthly_discount_rate), 2)
    else:
        frame["expected_average_spend"] = np.nan
        frame["clv"] = np.nan
    frame["purchase_horizon_days"] = purchase_days
    frame["value_horizon_months"] = months
    frame["as_of_date"] = summary["as_of_date"]
    return frame


def model(dbt, session):
    dbt.config(materialized="table")
    summary = dbt.ref("int_member_repeat_purchases_summarised").df()
    fits = dbt.ref("tag_clv_model_fits").df()
    monthly_discount_rate = float(dbt.config.get("clv_monthly_discount_rate"))
    purchase_horizon_days = int(dbt.config.get("clv_purchase_horizon_days"))
    value_horizon_months = int(dbt.config.get("clv_value_horizon_months"))
    return predictions(summary, fits, purchase_horizon_days, value_horizon_months, monthly_discount_rate)
