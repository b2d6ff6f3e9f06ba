"""Patterns of secrets, public so that other tools use the same definition as bplint.

``HF_TOKEN_PATTERN`` matches a Hugging Face access token: ``hf_`` followed by 30 or more ASCII
letters and digits, not glued to a longer word (no letter, digit or ``_`` before it, no letter or
digit after it). bplint's BPL801 reports string literals and notebook outputs that contain one.
"""

from __future__ import annotations

import re

HF_TOKEN_PATTERN = re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}(?![A-Za-z0-9])")

__all__ = ["HF_TOKEN_PATTERN"]
