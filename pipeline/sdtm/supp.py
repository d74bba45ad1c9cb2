"""The one builder of SUPP-- datasets (SDTMIG 3.4 section 8.4): SUPPAE, SUPPRS, SUPPTU.

A supplemental qualifier names its parent record (RDOMAIN, USUBJID, IDVAR, IDVARVAL), its
qualifier (QNAM, with QLABEL from the value-level QVAL entry of the SUPP-- spec), the value and
its origin. QEVAL is null: the qualifiers submitted are objective data (collected values) or
derived, and section 8.4 gives QEVAL to subjective data only.
"""

from __future__ import annotations

import pandas as pd

from pipeline.sdtm.common import DomainResult, build_result, carry_lineage
from pipeline.specs.datasets import load_dataset_spec


def qlabel(qnam: str, dataset: str) -> str:
    """QLABEL of a qualifier: the label of its value-level QVAL entry in ``specs/sdtm/<dataset>.yaml``."""
    spec = load_dataset_spec("sdtm", dataset)
    label = next(vl.label for vl in spec.value_level if vl.variable == "QVAL" and dict(vl.where).get("QNAM") == qnam)
    if label is None:
        raise KeyError(f"{spec.name}: the QVAL value-level entry of QNAM {qnam} has no label")
    return label


def build_supp(
    dataset: str,
    parents: pd.DataFrame,
    rdomain: str,
    idvar: str,
    idvarval: pd.Series,
    qnam: str,
    qval: pd.Series,
    qorig: str,
    queries: pd.DataFrame | None = None,
    derived: bool = False,
) -> DomainResult:
    """SUPP-- ``dataset`` with one qualifier ``qnam`` per record of ``parents``.

    ``parents`` holds STUDYID and USUBJID of each qualified record, and ``_file``/``_row`` when the value
    was collected (its raw row is the lineage); ``derived=True`` for a qualifier derived from SDTM records
    (no raw row: IDVAR/IDVARVAL name the parent, whose own lineage gives its raw file and row).
    ``idvarval`` and ``qval`` are aligned on ``parents``' index. Returns the finalized DomainResult.
    """
    out = pd.DataFrame(index=parents.index)
    out["STUDYID"] = parents["STUDYID"]
    out["RDOMAIN"] = rdomain
    out["USUBJID"] = parents["USUBJID"]
    out["IDVAR"] = idvar
    out["IDVARVAL"] = idvarval
    out["QNAM"] = qnam
    out["QLABEL"] = qlabel(qnam, dataset)
    out["QVAL"] = qval
    out["QORIG"] = qorig
    out["QEVAL"] = None
    if not derived:
        carry_lineage(out, parents)
    return build_result(out, dataset, queries, derived=derived)
