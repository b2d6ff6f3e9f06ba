"""Run profiles: one notebook, sized for a CPU smoke test or for a full GPU run.

Each notebook defines a table of settings per profile; its ``parameters`` cell names the profile
(``"auto"`` picks ``full`` on CUDA, ``smoke`` elsewhere) and may override single knobs.
"""

from types import SimpleNamespace
from typing import Any

PROFILES = ("smoke", "full", "multi")


def resolve_profile(profile: str) -> str:
    """Turn ``"auto"`` into ``"full"`` when CUDA is available and ``"smoke"`` otherwise."""
    if profile == "auto":
        import torch

        return "full" if torch.cuda.is_available() else "smoke"
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: choose 'auto' or one of {', '.join(PROFILES)}")
    return profile


def settings(profile: str, table: dict[str, dict[str, Any]], **overrides: Any) -> SimpleNamespace:
    """Settings of ``profile`` from ``table``, with every override that is not ``None`` applied.

    A profile missing from the table falls back to ``full`` (``multi`` is ``full`` on several GPUs).
    An override that names no setting is an error, so a typo in a papermill parameter is caught.
    """
    name = resolve_profile(profile)
    chosen = dict(table.get(name) or table["full"])
    unknown = sorted(set(overrides) - set(chosen))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(chosen))}")
    chosen.update({key: value for key, value in overrides.items() if value is not None})
    return SimpleNamespace(profile=name, **chosen)
