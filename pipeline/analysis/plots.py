"""Kaplan-Meier plots (PNG bytes) per endpoint, one curve per arm, numbers at risk below."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # headless: nightly runs have no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from lifelines.plotting import add_at_risk_counts  # noqa: E402

from pipeline.analysis.survival import DAYS_PER_YEAR, fit_km  # noqa: E402


def km_png(adtte: pd.DataFrame, title: str) -> bytes:
    """PNG of the KM curves of one parameter by ARM, time in months, 95% CI bands."""
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=90)
    fits = []
    for arm, g in adtte.groupby("ARM", sort=True):
        months = g.assign(AVAL=g["AVAL"] / (DAYS_PER_YEAR / 12))
        kmf = fit_km(months, arm)
        kmf.plot_survival_function(ax=ax, ci_show=True)
        fits.append(kmf)
    ax.set_title(title)
    ax.set_xlabel("Months since hepatectomy")
    ax.set_ylabel("Probability")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(range(0, 73, 12))
    if fits:
        add_at_risk_counts(*fits, ax=ax, rows_to_show=["At risk"])
    # Fixed margins (room for the at-risk rows below the axis): tight_layout measured every text
    # box, a third of the plot's time.
    fig.subplots_adjust(left=0.17, right=0.97, top=0.93, bottom=0.30)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
