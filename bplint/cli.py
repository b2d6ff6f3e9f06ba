"""Command-line entry point of bplint.

    bplint [PATHS...]            lint files and directories (default: .); `-` reads standard input
    bplint rule CODE|--all       explain a rule (or all rules)
    bplint rules                 list all rules
"""

from __future__ import annotations

import sys

from bplint import __version__

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time (mypy knows the name)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from bplint.config import Config
    from bplint.registry import Finding


def _parser() -> argparse.ArgumentParser:
    import argparse

    from bplint.output import FORMATS

    p = argparse.ArgumentParser(
        prog="bplint",
        description="Static linter for Hugging Face transformers training scripts and notebooks. "
                    "Subcommands: `bplint rule CODE|--all` explains rules, `bplint rules` lists them.",
    )
    p.add_argument("--version", action="version", version=f"bplint {__version__}")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or directories to lint (default: .); - reads the document from standard input")
    p.add_argument("--select", action="append", metavar="CODES",
                   help="comma-separated codes or prefixes to enable (replaces the configured select)")
    p.add_argument("--extend-select", action="append", metavar="CODES", help="codes or prefixes to add")
    p.add_argument("--ignore", action="append", metavar="CODES", help="codes or prefixes to disable")
    p.add_argument("--exclude", action="append", metavar="GLOBS",
                   help="glob patterns to exclude (replaces the configured exclude)")
    p.add_argument("--extend-exclude", action="append", metavar="GLOBS", help="glob patterns to exclude too")
    p.add_argument("--force-exclude", action="store_true",
                   help="apply the exclude patterns to files named on the command line too (for pre-commit)")
    p.add_argument("--respect-gitignore", dest="respect_gitignore", action="store_true", default=None,
                   help="skip files that git ignores (the default)")
    p.add_argument("--no-respect-gitignore", dest="respect_gitignore", action="store_false",
                   help="lint files that git ignores too")
    p.add_argument("--format", "--output-format", dest="format", choices=FORMATS, default="text",
                   help="output format (default: text)")
    p.add_argument("--output-file", "-o", metavar="PATH",
                   help="write the report to this file instead of stdout")
    p.add_argument("--statistics", action="store_true", help="show the number of findings per rule")
    p.add_argument("--exit-zero", action="store_true", help="exit with 0 even when there are findings")
    p.add_argument("--exit-non-zero-on-fix", action="store_true",
                   help="exit with 1 when --fix changed a file, even if no finding remains")
    p.add_argument("--config", metavar="PATH", help="pyproject.toml (or TOML file) to read settings from")
    p.add_argument("--no-cache", action="store_true", help="do not read or write .bplint_cache/")
    p.add_argument("--fix", action="store_true", help="apply safe fixes in place, then report what remains")
    p.add_argument("--diff", action="store_true",
                   help="print the fixes as a unified diff without writing (exit 1 when there is one)")
    p.add_argument("--unsafe-fixes", action="store_true", help="with --fix/--diff: apply unsafe fixes too")
    p.add_argument("--show-fixes", action="store_true",
                   help="mark fixable findings in the text report and list what --fix changed")
    p.add_argument("--add-noqa", action="store_true",
                   help="add `# noqa: CODE` comments to every line with a finding (writes files)")
    p.add_argument("--stdin-filename", metavar="PATH",
                   help="the name of the document read from standard input (its kind, settings, pins)")
    return p


def _rule_command(argv: list[str]) -> int:
    import json

    from bplint.output import explain, rule_dict, rules_markdown, rules_table
    from bplint.registry import all_rules, get_rule

    args = argv[1:]
    fmt = "text"
    for flag in ("--format", "--output-format"):
        if flag in args:
            i = args.index(flag)
            fmt = args[i + 1] if i + 1 < len(args) else ""
            args = args[:i] + args[i + 2:]
    if fmt not in ("text", "json", "markdown"):
        sys.stderr.write("bplint: error: --format must be text, json or markdown\n")
        return 2
    if argv[0] == "rules":
        if args not in ([], ["--list"]):
            sys.stderr.write("usage: bplint rules [--format text|json|markdown]\n")
            return 2
        rules = all_rules()
        out = {"json": lambda: json.dumps([rule_dict(r) for r in rules], indent=2) + "\n",
               "markdown": rules_markdown, "text": rules_table}[fmt]()
        sys.stdout.write(out)
        return 0
    if args == ["--all"]:
        rules = all_rules()
        if fmt == "json":
            sys.stdout.write(json.dumps([rule_dict(r) for r in rules], indent=2) + "\n")
        else:
            sys.stdout.write("\n".join(explain(r) for r in rules))
        return 0
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: bplint rule CODE | bplint rule --all [--format text|json]\n")
        return 2
    rule = get_rule(args[0])
    if rule is None:
        sys.stderr.write(f"bplint: error: unknown rule code '{args[0]}' (see `bplint rules`)\n")
        return 2
    sys.stdout.write(json.dumps(rule_dict(rule), indent=2) + "\n" if fmt == "json" else explain(rule))
    return 0


class _Report:
    """Where the report goes: stdout, or the file named by --output-file (written at the end)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        if self.path is None:
            sys.stdout.write(text)
        else:
            self.parts.append(text)

    def close(self) -> None:
        if self.path is not None:
            with open(self.path, "w", encoding="utf-8") as fh:  # noqa: PTH123  (start-up time)
                fh.write("".join(self.parts))


def _lint(argv: list[str]) -> int:
    from bplint.config import UsageError, load_config
    from bplint.engine import discover, run

    args = _parser().parse_args(argv)
    paths = args.paths or ["."]
    stdin = "-" in paths
    if stdin and len(paths) > 1:
        return _usage("`-` (standard input) cannot be combined with other paths")
    if args.stdin_filename and not stdin:
        paths = ["-"]
        stdin = True
    try:
        config = load_config(args, args.stdin_filename or "." if stdin else paths[0])
    except UsageError as exc:
        return _usage(str(exc))
    report = _Report(args.output_file)
    if stdin:
        return _lint_stdin(args, config, report)
    found = discover(paths, config, force_exclude=args.force_exclude)
    if found.special:
        path, what = found.special[0]
        return _usage(f"{path}: not a regular file or directory: {what}")
    if found.missing:
        for m in found.missing:
            sys.stderr.write(f"bplint: error: no such file or directory: {m}\n")
        return 2
    for path, pattern in found.excluded:
        sys.stderr.write(f"bplint: {path}: not linted: excluded by '{pattern}' "
                         f"({config.source or 'command line'}); --force-exclude is on\n")
    changed = 0
    if args.fix or args.diff or args.add_noqa:
        changed = _edit(found.files, config, args, report)
        if args.diff:
            report.close()
            return 1 if changed else 0
    results = run(found.files, config, use_cache=not args.no_cache)
    return _finish(args, results, report, changed, linted=len(found.files))


def _usage(message: str) -> int:
    sys.stderr.write(f"bplint: error: {message}\n")
    return 2


def _finish(args: Any, results: list[tuple[str, Finding]], report: _Report, changed: int, linted: int) -> int:
    from bplint.output import render

    report.write(render(args.format, results, args.statistics, args.show_fixes, linted))
    report.close()
    if args.exit_non_zero_on_fix and changed and not args.exit_zero:
        return 1
    return 1 if results and not args.exit_zero else 0


def _lint_stdin(args: Any, config: Config, report: _Report) -> int:
    """Lint one document read from standard input; with --fix, write the fixed text to stdout."""
    from bplint.engine import lint_document
    from bplint.fixes import add_noqa_source, fix_source, unified_diff
    from bplint.sources import MAX_FILE_SIZE, file_kind

    name = args.stdin_filename or "-"
    kind = file_kind(name, explicit=True) if args.stdin_filename else "python"
    if kind is None:
        return _usage(f"--stdin-filename {name}: not a kind of file bplint lints")
    data = sys.stdin.buffer.read(MAX_FILE_SIZE + 1)
    changed = 0
    if args.fix or args.diff or args.add_noqa:
        if args.add_noqa:
            new, count, note = add_noqa_source(name, kind, data, config)
        else:
            new, count, note = fix_source(name, kind, data, config, args.unsafe_fixes)
        if note:
            sys.stderr.write(f"bplint: {name}: {note}\n")
        if args.diff:
            if new is not None:
                report.write(unified_diff(name, data, new))
            report.close()
            return 1 if new is not None else 0
        sys.stdout.buffer.write(new if new is not None else data)
        sys.stdout.flush()
        data = new if new is not None else data
        changed = count
        report = _Report(args.output_file) if args.output_file else _StderrReport()
    results = [(name, f) for f in lint_document(name, data, config=config, kind=kind)]
    return _finish(args, results, report, changed, linted=1)


class _StderrReport(_Report):
    """With --fix on standard input the fixed document goes to stdout, so the report goes to stderr."""

    def __init__(self) -> None:
        super().__init__(None)

    def write(self, text: str) -> None:
        sys.stderr.write(text)


def _edit(files: list[tuple[str, str]], config: Config, args: Any, report: _Report) -> int:
    """Apply (``--fix``, ``--add-noqa``) or print (``--diff``) edits; returns the files changed."""
    from bplint.fixes import add_noqa_source, fix_source, unified_diff
    from bplint.sources import read_bytes

    changed = applied = 0
    fixed_codes: dict[str, int] = {}
    for path, kind in files:
        try:
            old = read_bytes(path)
        except ValueError:
            continue
        if args.add_noqa:
            new, count, note = add_noqa_source(path, kind, old, config)
        else:
            new, count, note = fix_source(path, kind, old, config, args.unsafe_fixes)
            if args.show_fixes and new is not None:
                _count_fixed(path, kind, old, new, config, fixed_codes)
        if note:
            sys.stderr.write(f"bplint: {path}: {note}\n")
        if new is None or new == old:
            continue
        changed += 1
        applied += count
        if args.diff:
            report.write(unified_diff(path, old, new))
        else:
            with open(path, "wb") as fh:  # noqa: PTH123  (start-up time)
                fh.write(new)
    if not args.diff:
        what = "added noqa comments to" if args.add_noqa else "fixed"
        unit = "line" if args.add_noqa else "finding"
        sys.stderr.write(f"bplint: {what} {applied} {unit}{'s' if applied != 1 else ''} in {changed} "
                         f"file{'s' if changed != 1 else ''}\n")
        if fixed_codes:
            rows = "".join(f"{n:>5}\t{code}\n" for code, n in sorted(fixed_codes.items()))
            sys.stderr.write("Fixed:\n" + rows)
    return changed


def _count_fixed(path: str, kind: str, old: bytes, new: bytes, config: Config,
                 counts: dict[str, int]) -> None:
    """Codes of the findings that a fix removed (what --show-fixes lists)."""
    from collections import Counter

    from bplint.engine import lint_document

    before = Counter(f.code for f in lint_document(path, old, config=config, kind=kind))
    after = Counter(f.code for f in lint_document(path, new, config=config, kind=kind))
    for code, n in (before - after).items():
        counts[code] = counts.get(code, 0) + n


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv in (["--version"], ["-V"]):
        sys.stdout.write(f"bplint {__version__}\n")
        return 0
    try:
        if argv and argv[0] in ("rule", "rules"):
            return _rule_command(argv)
        return _lint(argv)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except SystemExit as exc:  # argparse usage errors exit with 2
        return exc.code if isinstance(exc.code, int) else 2
    except OSError as exc:  # --output-file in a missing directory, a file that cannot be written
        sys.stderr.write(f"bplint: error: {exc.strerror or exc}: {exc.filename or ''}\n")
        return 2
    except Exception as exc:  # never a traceback
        sys.stderr.write(f"bplint: internal error: {type(exc).__name__}: {exc}\n")
        return 2
