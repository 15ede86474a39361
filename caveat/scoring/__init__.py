"""Uncertainty scoring: per-token measures, span aggregation, calibrated levels (pure numpy)."""
