"""What a result was measured on: library versions, Python, hardware, git commit and seed."""

import datetime
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from utils import REPO_ROOT

LIBRARIES = ("torch", "transformers", "datasets", "accelerate", "safetensors", "tokenizers", "numpy")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def git_state() -> tuple[str | None, bool | None]:
    """The checkout's full commit, and whether tracked files differ from it.

    A copy without ``.git`` (an archive, a file sync to another machine) reports ``$BP_GIT_COMMIT``,
    and ``None`` for cleanliness: it cannot be checked there.
    """
    try:
        return _git("rev-parse", "HEAD"), bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("BP_GIT_COMMIT"), None


def _cpu_model() -> str:
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def capture(seed: int | None = None) -> dict:
    """A JSON-ready description of the machine and software that a notebook ran on."""
    import torch

    cuda = torch.cuda.is_available()
    commit, dirty = git_state()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": "cuda" if cuda else "cpu",
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "cuda": torch.version.cuda if cuda else None,
        "libraries": {name: _version(name) for name in LIBRARIES},
        "git_commit": commit,
        "git_dirty": dirty,
        "seed": seed,
    }


def describe(environment: dict) -> str:
    """One line for a verdict: hardware, key library versions, date and commit."""
    hardware = environment["gpu"] or f"CPU ({environment['cpu']}, {environment['torch_threads']} threads)"
    libs = environment["libraries"]
    commit = environment.get("git_commit") or "unknown commit"
    state = {True: " with uncommitted changes", None: ""}.get(environment.get("git_dirty"), "")
    return (
        f"{hardware}; torch {libs['torch']}, transformers {libs['transformers']}, "
        f"Python {environment['python']}; {environment['date'][:10]}; commit {commit[:12]}{state}"
    )


def quiet_library_logs() -> None:
    """Keep notebook outputs to results: no progress bars or info logs from transformers and datasets."""
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
