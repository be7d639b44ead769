"""Measurement commands that print figures (speed targets are measured here, never by timed tests)."""
