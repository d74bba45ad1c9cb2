"""Loaders for the dataset specifications kept as data under ``specs/``.

Everything the pipeline knows about a dataset (fields, labels, types, codelists,
origins) is read from ``specs/``; nothing here hard-codes a fact about a dataset.
"""

from pipeline.specs.paths import SPECS_DIR

__all__ = ["SPECS_DIR"]
