"""ADaM layer: ADSL, ADTTE, ADAE, ADEX (ADaMIG 1.3)."""
