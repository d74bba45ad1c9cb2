"""Every display of the report and the function that builds it, in ICH E3 order (specs/analysis/displays.yaml)."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.tlf import (
    listings,
    t14_1_1_disposition,
    t14_1_2_demog,
    t14_2_1_rfs,
    t14_2_2_ttr,
    t14_2_3_os,
    t14_3_1_ae_overview,
    t14_3_2_ae_soc_pt,
    t14_3_3_ae_grade,
    t14_3_4_ae_related,
    t14_3_5_ae_dosemod,
    t14_3_6_deaths,
    t14_3_7_exposure,
)

# tables: build(ard) -> Table
TABLES: dict[str, Callable] = {
    m.ID: m.build
    for m in (
        t14_1_1_disposition,
        t14_1_2_demog,
        t14_2_1_rfs,
        t14_2_2_ttr,
        t14_2_3_os,
        t14_3_1_ae_overview,
        t14_3_2_ae_soc_pt,
        t14_3_3_ae_grade,
        t14_3_4_ae_related,
        t14_3_5_ae_dosemod,
        t14_3_6_deaths,
        t14_3_7_exposure,
    )
}
# figures: the ADTTE parameter each plots as Kaplan-Meier curves; "CIF": the Aalen-Johansen recurrence curves
FIGURES: dict[str, str] = {
    "f14_2_1_km_rfs": "RFS",
    "f14_2_2_km_ttr": "TTR",
    "f14_2_3_km_os": "OS",
    "f14_2_4_cif_recurrence": "CIF",
}
# listings: (build, the ADaM dataset it reads)
LISTINGS: dict[str, tuple[Callable, str]] = {
    "l16_2_1_discontinued": (listings.discontinued, "adsl"),
    "l16_2_7_1_deaths": (listings.deaths, "adsl"),
    "l16_2_7_2_sae": (listings.serious, "adae"),
    "l16_2_7_3_ae_dosemod": (listings.dose_modified, "adae"),
}
