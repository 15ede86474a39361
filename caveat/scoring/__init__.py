"""Uncertainty scoring: span aggregation and calibrated levels over token records (pure numpy).

Import from its modules (`caveat.scoring.spans`, `caveat.scoring.calibration`, ...).
"""
