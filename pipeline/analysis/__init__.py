"""Endpoint results computed from ADaM (lifelines for every survival estimate)."""
