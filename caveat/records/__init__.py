"""Plain records shared by every layer: tokens, alternatives, per-token measures, offsets.

The bottom layer: it imports nothing of caveat, so the engine and scoring both build on it
without importing each other.
"""
