"""SDTM layer: one module per domain, each a pure ``build(...) -> DomainResult``."""
