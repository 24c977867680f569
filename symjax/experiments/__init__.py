"""Experiments beyond the matrix: trained through the engine's group programs, returning data only (no
wording)."""
