# ruff: noqa: PTH100, PTH110, PTH118, PTH119, PTH120
# os.path on purpose: pathlib costs start-up time.
"""Output formats: text, json, json-lines, sarif (2.1.0), github (workflow annotations), gitlab
(Code Quality report), junit (XML); rule documentation as text, JSON and the Markdown table of
``docs/bplint.md``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from bplint import __version__
from bplint.registry import Finding, Rule, all_rules, get_rule

FORMATS = ("text", "json", "json-lines", "sarif", "github", "gitlab", "junit")
Results = list[tuple[str, Finding]]


def location(path: str, f: Finding) -> str:
    if f.cell is not None:
        return f"{path}:cell_{f.cell}:{f.line}:{f.col + 1}"
    return f"{path}:{f.line}:{f.col + 1}"


def _severity(code: str) -> str:
    rule = get_rule(code)
    return rule.severity if rule else "error"


def _fix_mark(f: Finding) -> str:
    if f.fix is None:
        return ""
    return " [*]" if f.fix.safe else " [unsafe fix]"


def format_text(results: Results, statistics: bool = False, show_fixes: bool = False, linted: int = 1) -> str:
    if statistics:
        return format_statistics(results)
    lines = []
    for path, f in results:
        mark = _fix_mark(f) if show_fixes else ""
        lines.append(f"{location(path, f)}: {f.code}{mark} [{_severity(f.code)}] {f.message}")
    n = len(results)
    if n:
        lines.append(f"Found {n} finding{'s' if n != 1 else ''}. Run `bplint rule CODE` for an explanation.")
        if show_fixes:
            safe = sum(1 for _, f in results if f.fix is not None and f.fix.safe)
            unsafe = sum(1 for _, f in results if f.fix is not None and not f.fix.safe)
            lines.append(f"{safe} fixable with --fix ({unsafe} more with --unsafe-fixes).")
    elif linted:
        lines.append("All checks passed!")
    else:
        lines.append("No files were linted.")
    return "\n".join(lines) + "\n"


def format_statistics(results: Results) -> str:
    counts: dict[str, int] = {}
    for _, f in results:
        counts[f.code] = counts.get(f.code, 0) + 1
    lines = []
    for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        rule = get_rule(code)
        lines.append(f"{n:>5}\t{code}\t{rule.name if rule else ''}")
    lines.append(f"Found {len(results)} finding{'s' if len(results) != 1 else ''}.")
    return "\n".join(lines) + "\n"


def _fix_dict(f: Finding) -> dict[str, Any] | None:
    if f.fix is None:
        return None
    return {
        "applicability": "safe" if f.fix.safe else "unsafe",
        "message": f.fix.title,
        "edits": [{"line": a, "column": b + 1, "end_line": c, "end_column": d + 1, "content": text}
                  for a, b, c, d, text in f.fix.edits],
    }


def _as_dict(path: str, f: Finding) -> dict[str, Any]:
    rule = get_rule(f.code)
    return {
        "code": f.code,
        "name": rule.name if rule else "",
        "severity": rule.severity if rule else "error",
        "message": f.message,
        "path": path,
        "cell": f.cell,
        "line": f.line,
        "column": f.col + 1,
        "end_line": f.end_line,
        "end_column": f.end_col + 1,
        "notebook": rule.notebook if rule else "",
        "fix": _fix_dict(f),
    }


def format_json(results: Results) -> str:
    return json.dumps([_as_dict(p, f) for p, f in results], indent=2) + "\n"


def format_json_lines(results: Results) -> str:
    return "".join(json.dumps(_as_dict(p, f)) + "\n" for p, f in results)


def file_uri(path: str) -> str:
    from pathlib import Path

    return Path(os.path.abspath(path)).as_uri()


def help_uri(rule: type[Rule]) -> str | None:
    """``file://`` URI of the notebook that demonstrates a rule, when bplint runs from a checkout
    that has it (an installed bplint has no notebooks next to it)."""
    if not rule.notebook:
        return None
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(checkout, rule.notebook)
    return file_uri(path) if os.path.exists(path) else None


def _region(line: int, col: int, end_line: int, end_col: int) -> dict[str, int]:
    return {"startLine": line, "startColumn": col + 1, "endLine": end_line, "endColumn": end_col + 1}


def format_sarif(results: Results) -> str:
    rules = all_rules()
    index = {r.code: i for i, r in enumerate(rules)}
    driver_rules = []
    for r in rules:
        entry: dict[str, Any] = {
            "id": r.code,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.summary},
            "help": {"text": r.explanation.strip(), "markdown": r.explanation.strip()},
            "defaultConfiguration": {"level": "error" if r.severity == "error" else "warning"},
            "properties": {"notebook": r.notebook} if r.notebook else {},
        }
        uri = help_uri(r)
        if uri:
            entry["helpUri"] = uri
        driver_rules.append(entry)
    sarif_results = []
    for path, f in results:
        uri = file_uri(path)
        line, col, end_line, end_col = f.file_pos or (f.line, f.col, f.end_line, f.end_col)
        message = f.message if f.cell is None else f"[cell {f.cell}, line {f.line}] {f.message}"
        res: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": index.get(f.code, 0),
            "level": "error" if _severity(f.code) == "error" else "warning",
            "message": {"text": message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": uri},
                "region": _region(line, col, end_line, end_col),
            }}],
        }
        if f.cell is not None:
            res["properties"] = {"cell": f.cell, "cellLine": f.line, "cellColumn": f.col + 1}
        elif f.fix is not None:  # notebook fixes are edits inside a cell, not of the .ipynb text
            res["fixes"] = [{
                "description": {"text": f.fix.title or "fix"},
                "artifactChanges": [{
                    "artifactLocation": {"uri": uri},
                    "replacements": [{"deletedRegion": _region(a, b, c, d), "insertedContent": {"text": text}}
                                     for a, b, c, d, text in f.fix.edits],
                }],
            }]
            res["properties"] = {"fixApplicability": "safe" if f.fix.safe else "unsafe"}
        sarif_results.append(res)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "bplint", "version": __version__, "rules": driver_rules}},
            "columnKind": "unicodeCodePoints",
            "results": sarif_results,
        }],
    }
    return json.dumps(doc, indent=2) + "\n"


def _esc_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _esc_prop(s: str) -> str:
    return _esc_data(s).replace(":", "%3A").replace(",", "%2C")


def _cell_message(f: Finding) -> str:
    return f.message if f.cell is None else f"[cell {f.cell}, line {f.line}] {f.message}"


def format_github(results: Results) -> str:
    lines = []
    for path, f in results:
        rule = get_rule(f.code)
        level = "error" if _severity(f.code) == "error" else "warning"
        title = f"{f.code} {rule.name}" if rule else f.code
        line, col, end_line, end_col = f.file_pos or (f.line, f.col, f.end_line, f.end_col)
        lines.append(f"::{level} file={_esc_prop(path)},line={line},col={col + 1},endLine={end_line},"
                     f"endColumn={end_col + 1},title={_esc_prop(title)}::{_esc_data(_cell_message(f))}")
    return "\n".join(lines) + ("\n" if lines else "")


def format_gitlab(results: Results) -> str:
    """GitLab Code Quality report: paths relative to the current directory, a stable fingerprint
    per finding (the same finding keeps it while lines move)."""
    import hashlib

    out = []
    seen: dict[str, int] = {}
    for path, f in results:
        rel = os.path.relpath(os.path.abspath(path)).replace(os.sep, "/")
        base = f"{rel}\0{f.code}\0{f.cell}\0{f.message}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        line, col, end_line, end_col = f.file_pos or (f.line, f.col, f.end_line, f.end_col)
        out.append({
            "description": f"{f.code} {_cell_message(f)}",
            "check_name": f.code,
            "fingerprint": hashlib.sha256(f"{base}\0{n}".encode()).hexdigest()[:32],
            "severity": "major" if _severity(f.code) == "error" else "minor",
            "location": {"path": rel, "positions": {"begin": {"line": line, "column": col + 1},
                                                     "end": {"line": end_line, "column": end_col + 1}}},
        })
    return json.dumps(out, indent=2) + "\n"


def format_junit(results: Results) -> str:
    """JUnit XML: one test suite per file with findings, one failed test case per finding."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="bplint", tests=str(len(results) or 1), failures=str(len(results)),
                      errors="0")
    by_path: dict[str, list[Finding]] = {}
    for path, f in results:
        by_path.setdefault(path, []).append(f)
    if not by_path:
        suite = ET.SubElement(root, "testsuite", name="bplint", tests="1", failures="0", errors="0")
        ET.SubElement(suite, "testcase", name="No findings", classname="bplint")
    for path, findings in by_path.items():
        n = str(len(findings))
        suite = ET.SubElement(root, "testsuite", name=path, tests=n, failures=n, errors="0")
        for f in findings:
            case = ET.SubElement(suite, "testcase", name=f"org.bplint.{f.code}", classname=path, file=path,
                                 line=str(f.line))
            failure = ET.SubElement(case, "failure", message=_cell_message(f), type=f.code)
            failure.text = f"{location(path, f)}: {f.code} {_cell_message(f)}"
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_RENDERERS: dict[str, Callable[[Results], str]] = {
    "json": format_json, "json-lines": format_json_lines, "sarif": format_sarif, "github": format_github,
    "gitlab": format_gitlab, "junit": format_junit,
}


def render(fmt: str, results: Results, statistics: bool = False, show_fixes: bool = False,
           linted: int = 1) -> str:
    renderer = _RENDERERS.get(fmt)
    if renderer is not None:
        return renderer(results)
    return format_text(results, statistics, show_fixes, linted)


# -- rule documentation -------------------------------------------------------------------------
def explain(rule: type[Rule]) -> str:
    head = f"# {rule.name} ({rule.code})\n\nSeverity: {rule.severity}\n"
    if rule.notebook:
        head += f"Notebook: {rule.notebook}\n"
    if rule.opt_in:
        head += "Opt-in: select the full code to enable it\n"
    return f"{head}\n{rule.summary}.\n\n{rule.explanation.strip()}\n"


def rule_dict(rule: type[Rule]) -> dict[str, Any]:
    return {"code": rule.code, "name": rule.name, "summary": rule.summary, "severity": rule.severity,
            "opt_in": rule.opt_in, "enabled_by": rule.enabled_by or None, "notebook": rule.notebook or None,
            "kinds": sorted(rule.kinds), "explanation": rule.explanation.strip()}


def rules_table() -> str:
    rows = [f"{r.code}  {r.name:<40} {r.severity:<8} {r.summary}" for r in all_rules()]
    return "\n".join(rows) + "\n"


def rules_markdown() -> str:
    """The rules table of ``docs/bplint.md``, generated from the registry."""
    rows = ["| code | name | severity | summary | notebook |", "| --- | --- | --- | --- | --- |"]
    for r in all_rules():
        nb = f"[{os.path.basename(r.notebook).removesuffix('.ipynb')}](../{r.notebook})" if r.notebook else ""
        rows.append(f"| `{r.code}` | {r.name} | {r.severity} | {r.summary} | {nb} |")
    return "\n".join(rows) + "\n"
