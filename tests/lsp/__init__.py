"""Helpers for the end-to-end language server tests (tests/test_lsp_*.py)."""
