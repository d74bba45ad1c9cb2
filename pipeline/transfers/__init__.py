"""Repeated transfers: delta between export drops, the query register and the sites' returned responses (issue #17)."""
