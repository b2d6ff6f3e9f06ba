"""Output formats: text, json, sarif (2.1.0), github (workflow annotations)."""

from __future__ import annotations

import json

from bplint import __version__
from bplint.registry import Finding, all_rules, get_rule

FORMATS = ("text", "json", "sarif", "github")


def location(path: str, f: Finding) -> str:
    if f.cell is not None:
        return f"{path}:cell_{f.cell}:{f.line}:{f.col + 1}"
    return f"{path}:{f.line}:{f.col + 1}"


def _rule(code: str):
    return get_rule(code)


def format_text(results: list[tuple[str, Finding]], statistics: bool) -> str:
    if statistics:
        return format_statistics(results)
    lines = []
    for path, f in results:
        rule = _rule(f.code)
        sev = rule.severity if rule else "error"
        lines.append(f"{location(path, f)}: {f.code} [{sev}] {f.message}")
    n = len(results)
    if n:
        lines.append(f"Found {n} finding{'s' if n != 1 else ''}. Run `bplint rule CODE` for an explanation.")
    else:
        lines.append("All checks passed!")
    return "\n".join(lines) + "\n"


def format_statistics(results: list[tuple[str, Finding]]) -> str:
    counts: dict[str, int] = {}
    for _, f in results:
        counts[f.code] = counts.get(f.code, 0) + 1
    lines = []
    for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        rule = _rule(code)
        lines.append(f"{n:>5}\t{code}\t{rule.name if rule else ''}")
    lines.append(f"Found {len(results)} finding{'s' if len(results) != 1 else ''}.")
    return "\n".join(lines) + "\n"


def _as_dict(path: str, f: Finding) -> dict:
    rule = _rule(f.code)
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
    }


def format_json(results: list[tuple[str, Finding]]) -> str:
    return json.dumps([_as_dict(p, f) for p, f in results], indent=2) + "\n"


def format_sarif(results: list[tuple[str, Finding]]) -> str:
    rules = all_rules()
    index = {r.code: i for i, r in enumerate(rules)}
    driver_rules = [{
        "id": r.code,
        "name": r.name,
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": r.summary},
        "help": {"text": r.explanation.strip(), "markdown": r.explanation.strip()},
        "defaultConfiguration": {"level": "error" if r.severity == "error" else "warning"},
        "properties": {"notebook": r.notebook} if r.notebook else {},
    } for r in rules]
    sarif_results = []
    for path, f in results:
        rule = _rule(f.code)
        line, col, end_line, end_col = f.file_pos or (f.line, f.col, f.end_line, f.end_col)
        region = {"startLine": line, "startColumn": col + 1, "endLine": end_line, "endColumn": end_col + 1}
        message = f.message if f.cell is None else f"[cell {f.cell}, line {f.line}] {f.message}"
        res = {
            "ruleId": f.code,
            "ruleIndex": index.get(f.code, 0),
            "level": "error" if (rule is None or rule.severity == "error") else "warning",
            "message": {"text": message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": path.replace("\\", "/")},
                "region": region,
            }}],
        }
        if f.cell is not None:
            res["properties"] = {"cell": f.cell, "cellLine": f.line, "cellColumn": f.col + 1}
        sarif_results.append(res)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "bplint", "version": __version__, "rules": driver_rules}},
            "results": sarif_results,
        }],
    }
    return json.dumps(doc, indent=2) + "\n"


def _esc_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _esc_prop(s: str) -> str:
    return _esc_data(s).replace(":", "%3A").replace(",", "%2C")


def format_github(results: list[tuple[str, Finding]]) -> str:
    lines = []
    for path, f in results:
        rule = _rule(f.code)
        level = "error" if (rule is None or rule.severity == "error") else "warning"
        title = f"{f.code} {rule.name}" if rule else f.code
        msg = f.message if f.cell is None else f"[cell {f.cell}, line {f.line}] {f.message}"
        line, col, end_line, end_col = f.file_pos or (f.line, f.col, f.end_line, f.end_col)
        lines.append(f"::{level} file={_esc_prop(path)},line={line},col={col + 1},endLine={end_line},"
                     f"endColumn={end_col + 1},title={_esc_prop(title)}::{_esc_data(msg)}")
    return "\n".join(lines) + ("\n" if lines else "")


def render(fmt: str, results: list[tuple[str, Finding]], statistics: bool = False) -> str:
    if fmt == "json":
        return format_json(results)
    if fmt == "sarif":
        return format_sarif(results)
    if fmt == "github":
        return format_github(results)
    return format_text(results, statistics)


def explain(rule) -> str:
    head = f"# {rule.name} ({rule.code})\n\nSeverity: {rule.severity}\n"
    if rule.notebook:
        head += f"Notebook: {rule.notebook}\n"
    return f"{head}\n{rule.summary}.\n\n{rule.explanation.strip()}\n"


def rules_table() -> str:
    rows = [f"{r.code}  {r.name:<40} {r.severity:<8} {r.summary}" for r in all_rules()]
    return "\n".join(rows) + "\n"
