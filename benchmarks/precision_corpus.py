"""Precision corpora: real code that no one in this project wrote, linted with every rule.

Two corpora, two subcommands:

``blind``
    Five public repositories at fixed commits, chosen before any rule was tuned on them, as a team
    adopting bplint would meet them: transformers' PyTorch examples, huggingface/notebooks, PEFT's
    and TRL's examples, nanoGPT. The script takes local copies as ``NAME=PATH`` arguments (a git
    checkout, or an exported tree with the commit in ``PATH/.corpus-commit``), lints the part of
    each repository listed in ``BLIND`` and records the commit it found next to the pinned one.
    ``--sample N`` adds a stratified sample for review: N findings per rule (all findings of a rule
    with fewer), drawn with a fixed seed.

``curated``
    The first corpus, located offline: installed packages of the current environment (found with
    ``importlib.util.find_spec``, never imported) and source distributions downloaded once with
    ``pip download --no-deps --no-binary :all: NAME==VERSION``.

bplint runs with all rules selected, opt-in rules included, and empty settings; the findings are
written as JSON. The reviews are in ``docs/precision.md``.

Usage:
    python benchmarks/precision_corpus.py blind transformers=PATH notebooks=PATH peft=PATH trl=PATH \\
        nanoGPT=PATH [--out FILE] [--sample 5 --seed 2026]
    python benchmarks/precision_corpus.py curated [--cache DIR] [--no-download] [--out FILE] [--list]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SELECT = "BPL,BPL409,BPL702"

# name -> (GitHub repository, pinned commit, directory linted inside it ("" for all of it))
BLIND = {
    "transformers": ("huggingface/transformers", "266d3b05684ed5968c613f00b208909f03c72c0e",
                     "examples/pytorch"),
    "notebooks": ("huggingface/notebooks", "5068b1142e8ed1e691c8b1e9f98e4473ebe55790", ""),
    "peft": ("huggingface/peft", "5d602fdbff04c33c1c4de55cda9d4ae1d7cb7e40", "examples"),
    "trl": ("huggingface/trl", "f2cd57710ae345ea6428ae95363267fcf38a3dc8", "examples"),
    "nanoGPT": ("karpathy/nanoGPT", "3adf61e154c3fe3fca428ad6bc3818b27a3b8291", ""),
}

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


def lint(paths: list[str], cwd: Path) -> list[dict]:
    """bplint's JSON findings for these paths, with empty settings and every rule selected."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bplint.toml"
        config.write_text("")
        command = [sys.executable, "-m", "bplint", "--no-cache", "--exit-zero", "--format", "json",
                   "--no-respect-gitignore", "--config", str(config), "--select", SELECT, *paths]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    return json.loads(proc.stdout)


def write(report: dict, out: str) -> None:
    text = json.dumps(report, indent=1) + "\n"
    if out == "-":
        sys.stdout.write(text)
    else:
        Path(out).write_text(text)


def counts(findings: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in findings:
        out[f["code"]] = out.get(f["code"], 0) + 1
    return dict(sorted(out.items()))


# -- blind -------------------------------------------------------------------------------------
def commit_of(path: Path) -> str:
    """The commit of a local copy: its git HEAD, or the one written in .corpus-commit."""
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        marker = path / ".corpus-commit"
        return marker.read_text().strip() if marker.is_file() else "unknown"


def lintable(root: Path) -> list[Path]:
    """Files bplint lints under a directory (by kind), for the file counts."""
    from bplint.sources import file_kind

    return [p for p in root.rglob("*") if p.is_file() and file_kind(str(p)) is not None]


def stratified(findings: list[dict], per_rule: int, seed: int) -> list[dict]:
    """``per_rule`` findings of each rule (all of a rule with fewer), in a reproducible draw."""
    rng = random.Random(seed)
    out = []
    for code in sorted({f["code"] for f in findings}):
        of_rule = [f for f in findings if f["code"] == code]
        out += of_rule if len(of_rule) <= per_rule else rng.sample(of_rule, per_rule)
    return out


def blind(args: argparse.Namespace) -> int:
    copies = dict(arg.split("=", 1) for arg in args.copies)
    unknown = set(copies) - set(BLIND)
    if unknown or not copies:
        sys.exit(f"name each copy as NAME=PATH with NAME among {', '.join(BLIND)}")
    repos, findings = [], []
    for name, path in copies.items():
        repo, pinned, sub = BLIND[name]
        root = Path(path).resolve()
        target = root / sub if sub else root
        found = commit_of(root)
        if found != pinned:
            print(f"{name}: copy at {found}, the review used {pinned}", file=sys.stderr)
        files = lintable(target)
        repos.append({"name": name, "repository": repo, "commit": found, "pinned": pinned,
                      "linted": sub or ".", "files": len(files)})
        for f in lint([str(target)], root):
            f["path"] = f"{name}/{os.path.relpath(f['path'], root)}"
            findings.append(f)
    report = {"select": SELECT, "repositories": repos, "files": sum(r["files"] for r in repos),
              "counts": counts(findings), "findings": findings}
    if args.sample:
        report["sample"] = stratified(findings, args.sample, args.seed)
        report["sample_seed"] = args.seed
    write(report, args.out)
    print(f"{report['files']} files, {len(findings)} findings: {report['counts']}", file=sys.stderr)
    return 0


# -- curated -------------------------------------------------------------------------------------
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


def curated(args: argparse.Namespace) -> int:
    corpus = installed_files() + sdist_files(Path(args.cache), not args.no_download)
    if args.list:
        for entry, _, shown in corpus:
            print(f"{entry}\t{shown}")
        return 0
    by_path = {str(f): (entry, shown) for entry, f, shown in corpus}
    findings = []
    for d in lint(list(by_path), Path.cwd()):
        entry, shown = by_path.get(d["path"], ("?", d["path"]))
        findings.append({"entry": entry, "file": shown, "line": d["line"], "column": d["column"],
                         "code": d["code"], "message": d["message"]})
    write({"files": len(corpus), "select": SELECT, "findings": findings}, args.out)
    print(f"{len(corpus)} files, {len(findings)} findings: {counts(findings)}", file=sys.stderr)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="corpus", required=True)
    b = sub.add_parser("blind", help="the five public repositories at fixed commits")
    b.add_argument("copies", nargs="+", metavar="NAME=PATH")
    b.add_argument("--out", default="-", help="JSON output file (default: stdout)")
    b.add_argument("--sample", type=int, default=0, help="findings per rule in a stratified review sample")
    b.add_argument("--seed", type=int, default=2026, help="seed of the sample draw")
    c = sub.add_parser("curated", help="the first corpus: installed packages and source distributions")
    c.add_argument("--cache", default=str(Path.home() / ".cache" / "bplint-corpus"))
    c.add_argument("--no-download", action="store_true")
    c.add_argument("--out", default="-", help="JSON output file (default: stdout)")
    c.add_argument("--list", action="store_true", help="list the corpus files and exit")
    args = ap.parse_args()
    return blind(args) if args.corpus == "blind" else curated(args)


if __name__ == "__main__":
    raise SystemExit(main())
