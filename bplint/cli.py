"""Command-line entry point of bplint.

    bplint [PATHS...]            lint files and directories (default: .)
    bplint rule CODE|--all       explain a rule (or all rules)
    bplint rules                 list all rules
"""

from __future__ import annotations

import sys

from bplint import __version__


def _parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="bplint",
        description="Static linter for Hugging Face transformers training scripts and notebooks. "
                    "Subcommands: `bplint rule CODE|--all` explains rules, `bplint rules` lists them.",
    )
    p.add_argument("--version", action="version", version=f"bplint {__version__}")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to lint (default: .)")
    p.add_argument("--select", action="append", metavar="CODES",
                   help="comma-separated codes or prefixes to enable (replaces the configured select)")
    p.add_argument("--extend-select", action="append", metavar="CODES", help="codes or prefixes to add")
    p.add_argument("--ignore", action="append", metavar="CODES", help="codes or prefixes to disable")
    p.add_argument("--exclude", action="append", metavar="GLOBS",
                   help="glob patterns to exclude (replaces the configured exclude)")
    p.add_argument("--extend-exclude", action="append", metavar="GLOBS", help="glob patterns to exclude too")
    p.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text")
    p.add_argument("--statistics", action="store_true", help="show the number of findings per rule")
    p.add_argument("--exit-zero", action="store_true", help="exit with 0 even when there are findings")
    p.add_argument("--config", metavar="PATH", help="pyproject.toml (or TOML file) to read settings from")
    p.add_argument("--no-cache", action="store_true", help="do not read or write .bplint_cache/")
    p.add_argument("--fix", action="store_true", help="apply safe fixes in place, then report what remains")
    p.add_argument("--diff", action="store_true",
                   help="print the fixes as a unified diff without writing (exit 1 when there is one)")
    p.add_argument("--unsafe-fixes", action="store_true", help="with --fix/--diff: apply unsafe fixes too")
    return p


def _rule_command(argv: list[str]) -> int:
    from bplint.output import explain, rules_table
    from bplint.registry import all_rules, get_rule

    if argv[0] == "rules" or (argv[1:] in (["--list"], []) and argv[0] == "rules"):
        sys.stdout.write(rules_table())
        return 0
    args = argv[1:]
    if args == ["--all"]:
        sys.stdout.write("\n".join(explain(r) for r in all_rules()))
        return 0
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: bplint rule CODE | bplint rule --all | bplint rules\n")
        return 2
    rule = get_rule(args[0])
    if rule is None:
        sys.stderr.write(f"bplint: error: unknown rule code '{args[0]}' (see `bplint rules`)\n")
        return 2
    sys.stdout.write(explain(rule))
    return 0


def _lint(argv: list[str]) -> int:
    from bplint.config import UsageError, load_config
    from bplint.engine import discover, run
    from bplint.output import render

    args = _parser().parse_args(argv)
    paths = args.paths or ["."]
    try:
        config = load_config(args, paths[0])
    except UsageError as exc:
        sys.stderr.write(f"bplint: error: {exc}\n")
        return 2
    files, missing = discover(paths, config)
    if missing:
        for m in missing:
            sys.stderr.write(f"bplint: error: no such file or directory: {m}\n")
        return 2
    if args.fix or args.diff:
        changed = _fix(files, config, args)
        if args.diff:
            return 1 if changed else 0
    results = run(files, config, use_cache=not args.no_cache)
    sys.stdout.write(render(args.format, results, args.statistics))
    if results and not args.exit_zero:
        return 1
    return 0


def _fix(files, config, args) -> int:
    """Apply (``--fix``) or print (``--diff``) the fixes; returns the number of files changed."""
    from bplint.engine import _rel
    from bplint.fixes import fix_file, unified_diff

    options = config.options()
    changed = 0
    applied = 0
    for path, kind in files:
        ignored = tuple(config.ignored_for(_rel(path, config.root))) if config.per_file_ignores else ()

        def enabled(code: str, ignored=ignored) -> bool:
            return config.enabled(code) and not code.startswith(ignored) if ignored else config.enabled(code)

        old, new, count, note = fix_file(path, kind, options, enabled, args.unsafe_fixes)
        if note:
            sys.stderr.write(f"bplint: {path}: {note}\n")
        if new is None or new == old:
            continue
        changed += 1
        applied += count
        if args.diff:
            sys.stdout.write(unified_diff(path, old, new))
        else:
            with open(path, "wb") as fh:  # noqa: PTH123  (start-up time)
                fh.write(new)
    if args.fix and not args.diff:
        sys.stderr.write(f"bplint: fixed {applied} finding{'s' if applied != 1 else ''} in {changed} "
                         f"file{'s' if changed != 1 else ''}\n")
    return changed


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
    except Exception as exc:  # never a traceback
        sys.stderr.write(f"bplint: internal error: {type(exc).__name__}: {exc}\n")
        return 2
