"""SUPPAE — treatment emergence of each AE (QNAM = AETRTEM), as the FDA Technical Conformance Guide asks.

The rule is ``pipeline.teae``'s, the one ADAE.TRTEMFL uses, applied to SDTM inputs: the reference
period from DM (RFXSTDTC/RFXENDTC for the sorafenib arm, RFSTDTC for the control arm), the AE start
imputed as ADAE.ASTDT is. Attached by IDVAR = AESEQ (specs/sdtm/suppae.yaml).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.dates import complete_date
from pipeline.sdtm.common import DomainResult
from pipeline.sdtm.supp import build_supp
from pipeline.specs.study import load_study
from pipeline.teae import analysis_start, reference_period, treatment_emergent

DOMAIN = "SUPPAE"
INPUTS = {"ae": ["sdtm", "ae"], "dm": ["sdtm", "dm"]}
QNAM = "AETRTEM"


def build(ae: DomainResult, dm: DomainResult) -> DomainResult:
    """One AETRTEM qualifier (Y/N) per AE record with a start date."""
    study = load_study()
    a = ae.data
    d = dm.data.set_index("USUBJID").reindex(a["USUBJID"])
    armcd = pd.Series(d["ARMCD"].to_numpy(), index=a.index)
    first, last, hep = (pd.Series(complete_date(d[c]).to_numpy(), index=a.index) for c in ("RFXSTDTC", "RFXENDTC", "RFSTDTC"))
    ref_start, ref_end = reference_period(armcd, first, last, hep, study.data_cutoff)
    astdt, _ = analysis_start(a["AESTDTC"], ref_start)
    emergent = treatment_emergent(astdt, ref_start, ref_end, study.teae_window_days)
    keep = emergent.notna().to_numpy()
    rows = a.loc[keep]
    qval = pd.Series(np.where(emergent[keep].to_numpy(dtype=bool), "Y", "N"), index=rows.index)
    # Derived from AE records, not from a raw row: the lineage names none (IDVAR/IDVARVAL name the AE record,
    # whose own lineage gives its raw file and row).
    idvarval = rows["AESEQ"].astype(int).astype(str)
    return build_supp("suppae", rows, "AE", "AESEQ", idvarval, QNAM, qval, "Derived", derived=True)
