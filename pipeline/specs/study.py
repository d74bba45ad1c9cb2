"""Protocol-level constants of the study (``specs/trial/study.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.specs.paths import SPECS_DIR, read_mapping


@dataclass(frozen=True)
class Arm:
    armcd: str
    arm: str
    study_drug: bool  # the arm takes sorafenib; the one that does not is the control arm


@dataclass(frozen=True)
class Study:
    studyid: str
    title: str
    phase: str
    planned_subjects: int
    arms: tuple[Arm, ...]
    planned_dose_mg_per_day: float
    planned_duration_days: int
    treatment_start_window_days: int
    teae_window_days: int  # days after the last dose an AE is still treatment-emergent
    data_cutoff: str  # ISO 8601 date of the export freeze
    ct_version: str

    def arm(self, armcd: str) -> Arm:
        for a in self.arms:
            if a.armcd == armcd:
                return a
        raise KeyError(armcd)

    @property
    def treated_armcd(self) -> str:
        """ARMCD of the arm taking the study drug (SORAFENIB)."""
        (a,) = [a for a in self.arms if a.study_drug]
        return a.armcd

    @property
    def control_armcd(self) -> str:
        """ARMCD of the arm without study drug (CONTROL): its observation starts at the hepatectomy."""
        (a,) = [a for a in self.arms if not a.study_drug]
        return a.armcd


@lru_cache(maxsize=2)
def load_study(root: Path = SPECS_DIR) -> Study:
    doc = read_mapping(root / "trial" / "study.yaml")
    doc["arms"] = tuple(Arm(armcd=str(a["armcd"]), arm=str(a["arm"]), study_drug=a["study_drug"] is True) for a in doc["arms"])
    doc["data_cutoff"] = str(doc["data_cutoff"])
    doc["ct_version"] = str(doc["ct_version"])
    return Study(**doc)
