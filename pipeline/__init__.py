"""NCT02867280 clinical-trial data pipeline: raw EDC exports -> SDTM -> ADaM -> endpoints."""

__version__ = "0.1.0"

import pandas as _pd

# Text is inferred as pandas' Arrow-backed ``str`` dtype (the default from pandas 3): set before
# any module builds a frame. See pipeline/columns.py.
_pd.options.future.infer_string = True

import warnings as _warnings  # noqa: E402

# pandas 2.3 announces two pandas 3 changes on every run; neither changes a value here (the
# embedded study's outputs were compared value for value), so the nightly logs are spared them.
_warnings.filterwarnings("ignore", "The behavior of DataFrame concatenation with empty or all-NA entries", FutureWarning)
_warnings.filterwarnings("ignore", "Dtype inference on a pandas object", FutureWarning)
