"""NCT02867280 clinical-trial data pipeline: raw EDC exports -> SDTM -> ADaM -> endpoints."""

__version__ = "0.1.0"
