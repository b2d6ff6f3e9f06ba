"""Checking ``-p NAME=VALUE`` overrides against a notebook before any kernel starts.

Names come from the notebook's ``parameters`` cell, read by papermill's inspection. The type a knob
accepts comes, in this order, from an annotation in that cell (``train_steps: int = None``), from its
default when that is not ``None`` (``seed = 42``), or from the values the notebook's profile table
gives the setting it overrides: in ``cfg = profiles.settings(profile, PROFILES, train_steps=train_steps)``
the knob ``train_steps`` takes the type of ``PROFILES[...]["train_steps"]``. A knob with none of these
accepts any value.
"""

import ast
from dataclasses import dataclass, field
from pathlib import Path

# Parameters that the runner sets from its own options.
RUNNER_PARAMETERS = {"profile": "--profile", "output_dir": "--output-dir"}
_TYPE_NAMES = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "tuple": tuple,
    "dict": dict,
}


@dataclass
class Knob:
    """One parameter of a notebook: its default and the example values its type is checked against."""

    name: str
    default: object
    examples: list = field(default_factory=list)  # values of known, accepted types; empty: any
    annotated: bool = False  # the examples stand for an annotation, not values the notebook uses

    def describe(self) -> str:
        types = sorted({_type_name(value) for value in self.examples})
        return f"{self.name} ({' or '.join(types)})" if types else self.name


def _type_name(value: object) -> str:
    if isinstance(value, list | tuple) and value:
        return f"list of {'/'.join(sorted({_type_name(item) for item in value}))}"
    return "list" if isinstance(value, tuple) else type(value).__name__


def _literal(node: ast.AST, names: dict) -> object:
    """A literal value, also through ``dict(BASE, key=...)`` calls and names of earlier literals;
    raises ValueError for anything computed."""
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        if len(node.args) > 1 or any(keyword.arg is None for keyword in node.keywords):
            raise ValueError("not a literal dict")
        value = dict(_literal(node.args[0], names)) if node.args else {}
        value.update({keyword.arg: _literal(keyword.value, names) for keyword in node.keywords})
        return value
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k, names): _literal(v, names) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.List | ast.Tuple):
        return type(node.elts)(_literal(item, names) for item in node.elts)
    return ast.literal_eval(node)


def profile_examples(notebook) -> dict[str, list]:
    """Parameter name -> the non-``None`` values its setting takes in the notebook's profile tables."""
    names: dict[str, object] = {}  # top-level names bound to literals, in cell order
    calls: list[ast.Call] = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython magics
            continue
        for statement in tree.body:
            if (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
            ):
                try:
                    names[statement.targets[0].id] = _literal(statement.value, names)
                except (ValueError, TypeError, SyntaxError):
                    names.pop(statement.targets[0].id, None)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name == "settings" and len(node.args) >= 2 and isinstance(node.args[1], ast.Name):
                    calls.append(node)
    examples: dict[str, list] = {}
    for call in calls:
        table = names.get(call.args[1].id)
        if not isinstance(table, dict):
            continue
        for keyword in call.keywords:
            if keyword.arg and isinstance(keyword.value, ast.Name):
                values = [
                    profile[keyword.arg]
                    for profile in table.values()
                    if isinstance(profile, dict) and keyword.arg in profile
                ]
                found = examples.setdefault(keyword.value.id, [])
                for value in values:
                    if value is not None and value not in found:
                        found.append(value)
    return examples


def _annotation_examples(annotation: str) -> list:
    """Example values for a papermill annotation such as ``int``, ``Optional[float]`` or ``list``."""
    text = annotation.strip()
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional[") : -1]
    kind = _TYPE_NAMES.get(text)
    return [kind()] if kind is not None else []


def knobs(path: Path) -> dict[str, Knob]:
    """The parameters of the notebook at ``path``, with what their types are checked against."""
    import nbformat
    from papermill.inspection import _infer_parameters

    notebook = nbformat.read(path, as_version=4)
    # papermill reads tags as attributes; a cell without metadata tags must still be inspectable.
    for cell in notebook.cells:
        cell.metadata.setdefault("tags", [])
    from_profiles = profile_examples(notebook)
    found = {}
    for parameter in _infer_parameters(notebook):
        name = parameter.name
        try:
            default = ast.literal_eval(parameter.default)
        except (ValueError, SyntaxError):
            default = parameter.default
        annotated = parameter.inferred_type_name not in ("None", None)
        if annotated:
            examples = _annotation_examples(parameter.inferred_type_name)
        elif default is not None:
            examples = [default]
        else:
            examples = from_profiles.get(name, [])
        found[name] = Knob(name, default, examples, annotated)
    return found


def _accepts(example: object, value: object) -> bool:
    if isinstance(example, bool) or isinstance(value, bool):
        return isinstance(example, bool) and isinstance(value, bool)
    if isinstance(example, float):
        return isinstance(value, int | float)
    if isinstance(example, list | tuple):
        if not isinstance(value, list | tuple):
            return False
        items = list(example)
        return not items or all(any(_accepts(item, v) for item in items) for v in value)
    return isinstance(value, type(example))


def type_error(knob: Knob, value: object) -> str | None:
    """Why ``value`` does not fit ``knob``, or None. ``None`` always fits a knob whose default is None
    (it means: the profile's value)."""
    if value is None and knob.default is None:
        return None
    if not knob.examples or any(_accepts(example, value) for example in knob.examples):
        return None
    expected = " or ".join(sorted({_type_name(example) for example in knob.examples}))
    message = f"{knob.name} takes {expected}, not {_type_name(value)}: {knob.name}={value!r}"
    if knob.annotated:
        return message
    return f"{message} (the notebook uses {', '.join(repr(example) for example in knob.examples[:3])})"


def check(overrides: dict, notebooks: list[Path]) -> tuple[dict[Path, dict], list[str]]:
    """The overrides each notebook takes, and the problems that must stop the run.

    A name that no selected notebook has, a value of the wrong type, and the runner's own parameters
    are problems. A name that only some of the notebooks have is passed to those only.
    """
    problems = []
    for name, option in RUNNER_PARAMETERS.items():
        if name in overrides:
            problems.append(f"-p {name}=... is set by the runner: use {option}")
    per_notebook = {path: knobs(path) for path in notebooks}
    for name in overrides:
        if name in RUNNER_PARAMETERS:
            continue
        if notebooks and not any(name in found for found in per_notebook.values()):
            listing = "; ".join(
                f"{path.stem}: "
                + ", ".join(knob.describe() for knob in found.values() if knob.name not in RUNNER_PARAMETERS)
                for path, found in per_notebook.items()
            )
            where = "the notebook" if len(notebooks) == 1 else "any selected notebook"
            problems.append(f"unknown parameter {name!r}: not a parameter of {where}. Valid names: {listing}")
    for path, found in per_notebook.items():
        for name, value in overrides.items():
            if name in found and (error := type_error(found[name], value)):
                problems.append(f"{path.stem}: {error}")
    chosen = {
        path: {
            name: value
            for name, value in overrides.items()
            if name in found and name not in RUNNER_PARAMETERS
        }
        for path, found in per_notebook.items()
    }
    return chosen, problems
