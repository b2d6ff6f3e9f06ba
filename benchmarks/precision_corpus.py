"""Precision corpus: real training scripts that no one in this project wrote, linted with every rule.

The corpus is made of files shipped by published packages, located offline:

* installed packages of the current environment (found with ``importlib.util.find_spec``, never
  imported): accelerate's test and example training scripts and commands, transformers' commands,
  sentence-transformers' training code; papermill's test notebooks (notebook reading and hygiene);
  torch's distributed-training test helpers (DDP/FSDP/RPC training loops);
* source distributions from PyPI, downloaded once into a cache directory with
  ``pip download --no-deps --no-binary :all: NAME==VERSION``: TRL's training scripts, PEFT's
  tests (training loops on small models) and transformers' training test mixin.

bplint runs on the corpus with all rules selected, opt-in rules included, and the findings are
written as JSON (one object per finding, with the corpus entry it came from). The review of every
finding is in ``docs/precision.md``.

Usage: python benchmarks/precision_corpus.py [--cache DIR] [--no-download] [--out FILE] [--list]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SELECT = "BPL,BPL409,BPL702"

# (package, glob patterns relative to the installed package directory)
INSTALLED = [
    ("accelerate", ["test_utils/scripts/*.py", "test_utils/scripts/external_deps/*.py", "commands/*.py",
                    "commands/config/*.py"]),
    ("transformers", ["cli/*.py"]),
    ("papermill", ["tests/notebooks/*.ipynb", "tests/notebooks/*/*/*.ipynb"]),
    ("torch", ["testing/_internal/distributed/*.py", "testing/_internal/distributed/*/*.py",
               "testing/_internal/distributed/*/*/*.py", "testing/_internal/common_fsdp.py",
               "testing/_internal/common_distributed.py"]),
    ("sentence_transformers", ["fit_mixin.py", "*/fit_mixin.py", "*/trainer.py", "trainer.py",
                               "*/training_args.py", "evaluation/*.py"]),
]
# (requirement, glob patterns inside the unpacked source distribution)
SDISTS = [
    ("trl==1.16.0", ["trl/scripts/*.py"]),
    ("peft==0.21.2", ["tests/*.py"]),
    ("transformers==5.24.0", ["tests/test_training_mixin.py"]),
]


def _version(package: str) -> str:
    from importlib import metadata

    name = {"sentence_transformers": "sentence-transformers"}.get(package, package)
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def installed_files() -> list[tuple[str, Path, str]]:
    """``(corpus entry, file, path shown)`` for the installed packages."""
    out = []
    for package, patterns in INSTALLED:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        base = Path(next(iter(spec.submodule_search_locations)))
        entry = f"{package} {_version(package)} (installed)"
        for pattern in patterns:
            for f in sorted(base.glob(pattern)):
                if f.name != "__init__.py":
                    out.append((entry, f, f"{package}/{f.relative_to(base)}"))
    return out


def sdist_files(cache: Path, download: bool) -> list[tuple[str, Path, str]]:
    out = []
    cache.mkdir(parents=True, exist_ok=True)
    for req, patterns in SDISTS:
        name, version = req.split("==")
        archive = next(iter(sorted(cache.glob(f"{name}-{version}.tar.gz"))), None)
        if archive is None and download:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", req,
                            "-d", str(cache), "-q"], check=False)
            archive = next(iter(sorted(cache.glob(f"{name}-{version}.tar.gz"))), None)
        if archive is None:
            print(f"missing source distribution {req} (run without --no-download)", file=sys.stderr)
            continue
        root = cache / f"{name}-{version}"
        if not root.is_dir():
            with tarfile.open(archive) as tar:
                tar.extractall(cache, filter="data")
        for pattern in patterns:
            for f in sorted(root.glob(pattern)):
                if f.name != "__init__.py":
                    out.append((f"{name} {version} (sdist)", f, f"{name}-{version}/{f.relative_to(root)}"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "bplint-corpus"))
    ap.add_argument("--no-download", action="store_true")
    ap.add_argument("--out", default="-", help="JSON output file (default: stdout)")
    ap.add_argument("--list", action="store_true", help="list the corpus files and exit")
    args = ap.parse_args()
    corpus = installed_files() + sdist_files(Path(args.cache), not args.no_download)
    if args.list:
        for entry, _, shown in corpus:
            print(f"{entry}\t{shown}")
        return 0
    by_path = {str(f): (entry, shown) for entry, f, shown in corpus}
    config = Path(args.cache) / "bplint.toml"  # empty settings: defaults, whatever the current directory
    config.write_text("")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "bplint", "--no-cache", "--exit-zero", "--format", "json",
                           "--config", str(config), "--select", SELECT, *by_path],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return proc.returncode
    findings = []
    for d in json.loads(proc.stdout):
        entry, shown = by_path.get(d["path"], ("?", d["path"]))
        findings.append({"entry": entry, "file": shown, "line": d["line"], "column": d["column"],
                         "code": d["code"], "message": d["message"]})
    report = {"files": len(corpus), "select": SELECT, "findings": findings}
    text = json.dumps(report, indent=1) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text)
    counts: dict = {}
    for f in findings:
        counts[f["code"]] = counts.get(f["code"], 0) + 1
    sys.stderr.write(f"{len(corpus)} files, {len(findings)} findings: "
                     + ", ".join(f"{c} {n}" for c, n in sorted(counts.items())) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
