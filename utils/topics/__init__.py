"""Helpers of one topic, each used by one or two notebooks (the module docstring names them)."""
