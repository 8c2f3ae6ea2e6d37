"""The CLV model fits: BG/NBD (Fader, Hardie and Lee 2005, "Counting your customers the easy way")
and Gamma-Gamma (Fader, Hardie and Lee 2005, "RFM and CLV"; Fader and Hardie 2013), fitted by
maximum likelihood with scipy on the repeat-purchase summary. One row per model fit, with its
parameters, log-likelihood and the number of customers it was fitted on.

DuckDB only: dbt-spark's session method cannot run Python models, so this model and
tag_clv_predictions are disabled on other engines (see _tags__models.yml).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import betaln, gammaln

BG_NBD_PARAMETERS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMETERS = ("p", "q", "v")
MIN_CUSTOMERS = 10


def bg_nbd_log_likelihood(params, frequency, recency, tenure, weights):
    """Sum of the BG/NBD log-likelihood (FHL 2005, eq. 6) over customers (x, t_x, T)."""
    r, alpha, a, b = params
    x, t_x, big_t = frequency, recency, tenure
    common = (gammaln(r + x) - gammaln(r) + r * np.log(alpha)
              + betaln(a, b + x) - betaln(a, b))
    still_alive = -(r + x) * np.log(alpha + big_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        dropped_out = np.where(
            x > 0,
            np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return float(np.sum(weights * (common + np.logaddexp(still_alive, dropped_out))))


def gamma_gamma_log_likelihood(params, frequency, average_spend, weights):
    """Sum of the Gamma-Gamma log-likelihood of the mean spend of x repeat purchases."""
    p, q, v = params
    x, m = frequency, average_spend
    per_customer = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
                    + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v))
    return float(np.sum(weights * per_customer))


def maximise(log_likelihood, data, start, customer_count):
    """Maximum likelihood over positive parameters, on their logs and on the mean log-likelihood
    per customer (so that tolerances do not depend on the data size). L-BFGS-B gets there in a
    few hundred evaluations, which matters at a million customers (each evaluation reads them
    all); Nelder-Mead, slower but derivative-free, takes over only if L-BFGS-B does not converge."""
    def negative_mean(log_params):
        value = log_likelihood(np.exp(log_params), *data) / customer_count
        return -value if np.isfinite(value) else 1e300

    best = optimize.minimize(negative_mean, np.log(start), method="L-BFGS-B",
                             options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 1000})
    if not best.success:
        # Typically a line search at the limit of precision on a flat ridge: polish, with a budget.
        best = optimize.minimize(negative_mean, best.x, method="Nelder-Mead",
                                 options={"xatol": 1e-6, "fatol": 1e-10, "maxfev": 2000})
    return np.exp(best.x), -float(best.fun) * customer_count, bool(best.success)


def fit_bg_nbd(summary: pd.DataFrame):
    grouped = (summary.groupby(["repeat_purchase_count", "recency_periods", "tenure_periods"])
               .size().reset_index(name="weight"))
    data = tuple(grouped[column].to_numpy(dtype=float) for column in
                 ("repeat_purchase_count", "recency_periods", "tenure_periods", "weight"))
    return maximise(bg_nbd_log_likelihood, data, start=(1.0, 1.0, 1.0, 1.0),
                    customer_count=len(summary))


def fit_gamma_gamma(summary: pd.DataFrame):
    repeaters = summary[(summary["repeat_purchase_count"] > 0)
                        & (summary["repeat_purchase_average_spend"] > 0)]
    data = (repeaters["repeat_purchase_count"].to_numpy(dtype=float),
            repeaters["repeat_purchase_average_spend"].to_numpy(dtype=float),
            np.ones(len(repeaters)))
    mean_spend = float(repeaters["repeat_purchase_average_spend"].mean())
    params, log_likelihood, converged = maximise(gamma_gamma_log_likelihood, data,
                                                 start=(1.0, 2.0, mean_spend),
                                                 customer_count=len(repeaters))
    return params, log_likelihood, converged, len(repeaters)


def fits(summary: pd.DataFrame, as_of_date, period_days) -> pd.DataFrame:
    """One row per model: its parameters (the other model's columns null), log-likelihood, the
    number of customers fitted, whether the optimiser converged."""
    rows = []
    row = {"model_name": "bg_nbd", "customer_count": len(summary)}
    if len(summary) >= MIN_CUSTOMERS:
        params, log_likelihood, converged = fit_bg_nbd(summary)
        row.update(dict(zip(BG_NBD_PARAMETERS, params)), log_likelihood=log_likelihood,
                   is_converged=converged)
    rows.append(row)
    repeaters = int(((summary["repeat_purchase_count"] > 0)
                     & (summary["repeat_purchase_average_spend"] > 0)).sum())
    row = {"model_name": "gamma_gamma", "customer_count": repeaters}
    if repeaters >= MIN_CUSTOMERS:
        params, log_likelihood, converged, _ = fit_gamma_gamma(summary)
        row.update(dict(zip(GAMMA_GAMMA_PARAMETERS, params)), log_likelihood=log_likelihood,
                   is_converged=converged)
    rows.append(row)
    columns = ["model_name", *BG_NBD_PARAMETERS, *GAMMA_GAMMA_PARAMETERS, "log_likelihood",
               "customer_count", "is_converged", "period_days", "as_of_date"]
    frame = pd.DataFrame(rows).reindex(columns=columns)
    for column in (*BG_NBD_PARAMETERS, *GAMMA_GAMMA_PARAMETERS, "log_likelihood"):
        frame[column] = frame[column].astype("float64")
    frame["customer_count"] = frame["customer_count"].astype("int64")
    frame["is_converged"] = frame["is_converged"].fillna(False).astype(bool)
    frame["period_days"] = period_days
    frame["as_of_date"] = as_of_date
    return frame


def model(dbt, session):
    dbt.config(materialized="table")
    # In a fixed order: the likelihoods are sums of floats, and the optimiser's last digits follow
    # the order of their terms, so the same members must give the same fit on every build.
    summary = dbt.ref("int_member_repeat_purchases_summarised").df().sort_values("one_id", ignore_index=True)
    for column in ("recency_periods", "tenure_periods", "repeat_purchase_average_spend"):
        summary[column] = summary[column].astype("float64")
    # The period and as-of date come with the summary (vars onedata__clv_period_days and
    # onedata__as_of_date), so the fit always describes the data it was fitted on.
    as_of_date = pd.to_datetime(summary["as_of_date"].iloc[0]).date() if len(summary) else None
    period_days = int(summary["period_days"].iloc[0]) if len(summary) else None
    return fits(summary, as_of_date, period_days)
