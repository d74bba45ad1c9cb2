"""The AE coding dictionaries kept in ``specs/terms/``.

``ae_verbatim.csv`` maps every verbatim the sites write (English, Chinese, synonyms,
known typos) to its CTCAE v4.0 term and an English verbatim; ``ctcae_meddra.csv`` maps a
CTCAE v4.0 term to its MedDRA lowest level term, preferred term and system organ class.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from pipeline.specs.paths import SPECS_DIR


@lru_cache(maxsize=2)
def load_verbatim_dictionary(root: Path = SPECS_DIR) -> pd.DataFrame:
    """Columns: verbatim, language, ctcae_term, english_verbatim."""
    return pd.read_csv(root / "terms" / "ae_verbatim.csv", dtype=str, keep_default_na=False)


@lru_cache(maxsize=2)
def load_ctcae_meddra(root: Path = SPECS_DIR) -> pd.DataFrame:
    """Columns: ctcae_term, meddra_llt_code, meddra_pt, meddra_pt_code, soc, soc_code (one row per term)."""
    df = pd.read_csv(root / "terms" / "ctcae_meddra.csv", dtype=str, keep_default_na=False)
    if df["ctcae_term"].duplicated().any():
        dup = df.loc[df["ctcae_term"].duplicated(), "ctcae_term"].tolist()
        raise ValueError(f"specs/terms/ctcae_meddra.csv: duplicate CTCAE terms {dup}")
    return df
