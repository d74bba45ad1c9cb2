"""Kaplan-Meier figures per endpoint, report quality: one curve per arm with 95% CI bands and
censor ticks, the hazard ratio with its CI and the log-rank p on the plot, numbers at risk under
the time axis; PNG for screens, SVG and PDF (vector) for documents.

The bytes are deterministic: no dates or software versions in the files' metadata, and SVG
element ids from a fixed hash salt, so the same data give byte-identical figures.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # headless: nightly runs have no display
import matplotlib.pyplot as plt
import pandas as pd
from lifelines.plotting import add_at_risk_counts

from pipeline.analysis.survival import DAYS_PER_YEAR, fit_km

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FORMATS = ("png", "svg", "pdf")
PNG_DPI = 150
# Metadata matplotlib would otherwise stamp into each file (creation date, its version).
_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}
_STYLE: dict[RcKeyType, Any] = {"svg.hashsalt": "nct02867280-km", "svg.fonttype": "path", "pdf.fonttype": 42, "font.size": 9}


def _save(fig, formats: tuple[str, ...] = FORMATS) -> dict[str, bytes]:
    """The figure as {format: bytes} for ``formats`` (of "png", "svg", "pdf"), without the metadata that
    would vary; closes it."""
    out = {}
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=PNG_DPI if fmt == "png" else None, metadata=_METADATA[fmt])
        out[fmt] = buf.getvalue()
    plt.close(fig)
    return out


def km_figures(adtte: pd.DataFrame, title: str, annotation: str = "", formats: tuple[str, ...] = FORMATS) -> dict[str, bytes]:
    """Take one parameter's ADTTE rows (AVAL days, CNSR 0 = event, ARM), a title and the text to
    print on the plot (HR with CI, log-rank p); return {format: bytes} for ``formats`` (default
    PNG, SVG and PDF; each format costs a full rendering)."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 5.4))
        fits = []
        for arm, g in adtte.groupby("ARM", sort=True):
            months = g.assign(AVAL=g["AVAL"] / (DAYS_PER_YEAR / 12))
            kmf = fit_km(months, str(arm).title())
            kmf.plot_survival_function(ax=ax, ci_show=True, show_censors=True, censor_styles={"marker": "|", "ms": 6, "mew": 1})
            fits.append(kmf)
        ax.set_title(title)
        ax.set_xlabel("Months since hepatectomy")
        ax.set_ylabel("Probability")
        ax.set_ylim(0, 1.02)
        ax.set_xticks(range(0, 73, 12))
        ax.set_xlim(0, 72)
        if annotation:
            ax.text(
                0.98,
                0.97,
                annotation,
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
                bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.7"},
            )
        ax.plot([], [], "|", color="0.35", ms=6, mew=1, label="Censored")  # the tick marks' legend entry
        ax.legend(loc="lower left", fontsize=8, frameon=False)
        if fits:
            add_at_risk_counts(*fits, ax=ax, rows_to_show=["At risk"])
        # Fixed margins (room for the at-risk rows below the axis): tight_layout measured every
        # text box, a third of the plot's time.
        fig.subplots_adjust(left=0.17, right=0.97, top=0.93, bottom=0.27)
        out = _save(fig, formats)
    return out


def km_png(adtte: pd.DataFrame, title: str, annotation: str = "") -> bytes:
    """The PNG of :func:`km_figures` (only the PNG is rendered)."""
    return km_figures(adtte, title, annotation, formats=("png",))["png"]


def cif_figures(cr: pd.DataFrame, title: str, formats: tuple[str, ...] = FORMATS) -> dict[str, bytes]:
    """Take the competing-risk rows (``survival.competing_risks``: AVAL days, EVENT 1 = recurrence,
    2 = death without recurrence, 0 = censored; ARM) and a title; return the Aalen-Johansen
    cumulative incidence of recurrence per arm as {format: bytes} for ``formats``."""
    import warnings

    from lifelines import AalenJohansenFitter

    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 5.0))
        for arm, g in cr.groupby("ARM", sort=True):
            ajf = AalenJohansenFitter(calculate_variance=False, seed=0)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Tied event times")
                ajf.fit(
                    g["AVAL"].to_numpy(dtype=float) / (DAYS_PER_YEAR / 12), g["EVENT"].to_numpy(dtype=int), event_of_interest=1
                )
            cif = ajf.cumulative_density_.iloc[:, 0]
            ax.step(cif.index, cif.to_numpy(), where="post", label=str(arm).title())
        ax.set_title(title)
        ax.set_xlabel("Months since hepatectomy")
        ax.set_ylabel("Cumulative incidence of recurrence")
        ax.set_ylim(0, 1.02)
        ax.set_xticks(range(0, 73, 12))
        ax.set_xlim(0, 72)
        ax.text(
            0.98,
            0.03,
            "Aalen-Johansen; death without recurrence competing",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
        )
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        fig.subplots_adjust(left=0.12, right=0.97, top=0.93, bottom=0.12)
        out = _save(fig, formats)
    return out
