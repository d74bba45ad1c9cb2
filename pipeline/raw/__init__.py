"""The raw layer: site EDC exports read, converted and checked against specs/raw."""
