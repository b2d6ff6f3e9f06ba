"""Semantic model: what a name refers to at each point of the single pass over a document.

Rules ask questions here instead of matching spellings, in the manner of ruff's ``SemanticModel``:

* **bindings per scope** (module, class, function, lambda, comprehension), created in source order
  (notebook cells in order) as the walk passes the statement that binds them, so that a lookup
  finds *the assignment that reaches this point*: the last one before it, a reassignment in a later
  cell included;
* **qualified names** through imports (``from transformers import pipeline as p`` makes ``p(...)``
  ``transformers.pipeline``; a variable called ``pipeline`` that holds a diffusers pipeline is not);
* **values**: literals reached through names, tuple assignments (``model_id, out = "org/name",
  "dir"``) and dict literals unpacked into calls (``**{"trust_remote_code": True}``, ``kw =
  dict(...)``);
* **origins**: the qualified name of the call that produced a value (``pipe =
  DiffusionPipeline.from_pretrained(...).to("cuda")`` has origin
  ``diffusers.DiffusionPipeline.from_pretrained``);
* **frameworks and libraries** a document imports (torch, TensorFlow, JAX; transformers, diffusers,
  TRL, setfit, unsloth...).

A name used inside a function before the module binds it (``def main(): load(MODEL)`` above
``MODEL = ...``) resolves to the module's binding when the module binds it once, as Python resolves
globals when the function runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Final

MISSING: Final = object()  # an unknown value
# Statements that contain statements (function and class bodies are handled on their own).
_COMPOUND = frozenset({ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try,
                       ast.TryStar, ast.Match})
_MAX_DEPTH = 8  # alias chains followed at most this deep (``a = b; b = c; ...``)

# Methods that return the object they are called on (or a copy of the same kind): a model moved to
# the GPU is still the same model.
SAME_OBJECT_METHODS: Final = frozenset({
    "to", "cuda", "cpu", "eval", "train", "half", "float", "bfloat16", "double", "requires_grad_",
    "to_empty", "share_memory",
})
TF_LIBRARIES: Final = frozenset({"tensorflow", "keras", "tf_keras"})
JAX_LIBRARIES: Final = frozenset({"jax", "flax", "optax"})

# Binding kinds
IMPORT: Final = "import"  # value: the qualified name (str)
VALUE: Final = "value"  # value: the expression assigned (ast.expr)
UNKNOWN: Final = "unknown"  # parameter, loop variable, augmented assignment, ``with ... as x``
DEF: Final = "def"  # node: the FunctionDef
CLASS: Final = "class"  # node: the ClassDef


class Binding:
    """One binding of a name: how (``kind``), by which node, and to what."""

    __slots__ = ("kind", "mutated", "node", "stale", "value")

    def __init__(self, kind: str, node: ast.AST | None, value: object = None) -> None:
        self.kind = kind
        self.node = node
        self.value = value
        self.mutated = False  # a dict bound here was changed in place (``kw["x"] = 1``, ``kw.update(...)``)
        self.stale = False  # exec() or globals().update() may have rebound the name since

    @property
    def expr(self) -> ast.expr | None:
        """The expression assigned, when it still tells the value."""
        if self.kind == VALUE and not self.stale and isinstance(self.value, ast.expr):
            return self.value
        return None

    def __repr__(self) -> str:
        return f"Binding({self.kind}, {self.value!r})"


class Scope:
    __slots__ = ("attrs", "globals", "kind", "names", "node", "parent")

    def __init__(self, kind: str, node: ast.AST | None, parent: Scope | None) -> None:
        self.kind = kind
        self.node = node
        self.parent = parent
        self.names: dict[str, Binding] = {}
        self.attrs: dict[str, Binding] = {}  # class scopes: ``self.x = ...`` in its methods
        self.globals: set[str] = set()


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _pairs(target: ast.expr, value: ast.expr | None) -> Iterator[tuple[ast.Name, ast.expr | None]]:
    """``(name node, value or None)`` for each name an assignment target binds, tuples paired up."""
    if isinstance(target, ast.Name):
        yield target, value
    elif isinstance(target, ast.Tuple | ast.List):
        elts = value.elts if isinstance(value, ast.Tuple | ast.List) else None
        paired = elts is not None and len(elts) == len(target.elts) and not any(
            isinstance(e, ast.Starred) for e in (*elts, *target.elts))
        for i, t in enumerate(target.elts):
            yield from _pairs(t, elts[i] if paired and elts is not None else None)
    elif isinstance(target, ast.Starred):
        yield from _pairs(target.value, None)


class SemanticModel:
    """Scopes and bindings of one document, filled in by the walk (see ``bplint.analysis``)."""

    def __init__(self) -> None:
        self.module = Scope("module", None, None)
        self.scope = self.module
        self.libraries: set[str] = set()  # top-level packages imported anywhere in the document
        self.imported: set[str] = set()  # qualified names imported (``transformers.TFAutoModel``)
        self._module_final: dict[str, Binding] = {}  # the module's own bindings, for deferred lookups

    # -- the pre-scan: imports of the whole document, module bindings for deferred lookups ---------
    def prescan(self, trees: list[ast.Module]) -> None:
        seen: dict[str, Binding | None] = {}
        for tree in trees:
            self._prescan_body(tree.body, seen, top=True)
        self._module_final = {k: v for k, v in seen.items() if v is not None}

    def _prescan_body(self, body: list[ast.stmt], seen: dict[str, Binding | None], top: bool) -> None:
        stack = [(st, top) for st in reversed(body)]
        while stack:
            st, module_level = stack.pop()
            if isinstance(st, ast.Import | ast.ImportFrom):
                for name, qual in _import_names(st):
                    self.libraries.add(qual.partition(".")[0])
                    self.imported.add(qual)
                    if module_level:
                        self._seen(seen, name, Binding(IMPORT, st, qual))
            elif isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if module_level:
                    self._seen(seen, st.name, Binding(CLASS if isinstance(st, ast.ClassDef) else DEF, st))
                stack.extend((s, False) for s in reversed(st.body))
                continue
            elif module_level and isinstance(st, ast.Assign | ast.AnnAssign):
                targets = st.targets if isinstance(st, ast.Assign) else [st.target]
                for target in targets:
                    for name_node, v in _pairs(target, st.value):
                        self._seen(seen, name_node.id, Binding(VALUE, st, v) if v is not None else None)
            elif module_level and isinstance(st, ast.AugAssign | ast.For | ast.AsyncFor):
                for name_node, _ in _pairs(st.target, None):
                    self._seen(seen, name_node.id, None)
            if type(st) not in _COMPOUND:
                continue  # most statements hold no statements
            for field in ("body", "orelse", "finalbody"):
                stack.extend((s, module_level) for s in reversed(getattr(st, field, ()) or ()))
            for h in getattr(st, "handlers", ()) or ():
                stack.extend((s, module_level) for s in reversed(h.body))
            for case in getattr(st, "cases", ()) or ():
                stack.extend((s, module_level) for s in reversed(case.body))

    @staticmethod
    def _seen(seen: dict[str, Binding | None], name: str, binding: Binding | None) -> None:
        """Keep a module binding for deferred lookups only while every binding of the name agrees."""
        if name not in seen:
            seen[name] = binding
            return
        prev = seen[name]
        if prev is None or binding is None or not _same(prev, binding):
            seen[name] = None

    # -- frameworks ------------------------------------------------------------------------------
    def uses(self, *libraries: str) -> bool:
        return any(lib in self.libraries for lib in libraries)

    @property
    def tensorflow(self) -> bool:
        """The document is TensorFlow code (TF imported, or transformers' ``TF*`` classes)."""
        return self.uses(*TF_LIBRARIES) or any(q.startswith("transformers.TF") for q in self.imported)

    @property
    def jax(self) -> bool:
        return self.uses(*JAX_LIBRARIES) or any(q.startswith("transformers.Flax") for q in self.imported)

    @property
    def torch_only(self) -> bool:
        """Not TensorFlow or JAX code, unless it imports torch too (then torch may be meant)."""
        return "torch" in self.libraries or not (self.tensorflow or self.jax)

    # -- scopes ----------------------------------------------------------------------------------
    def push(self, kind: str, node: ast.AST) -> None:
        self.scope = Scope(kind, node, self.scope)

    def pop(self) -> None:
        if self.scope.parent is not None:
            self.scope = self.scope.parent

    def bind(self, name: str, binding: Binding) -> None:
        scope = self.module if name in self.scope.globals else self.scope
        scope.names[name] = binding

    def bind_target(self, target: ast.expr, value: ast.expr | None, node: ast.AST) -> None:
        """Bind the names of an assignment target; ``self.x = v`` binds ``x`` on the enclosing class."""
        if isinstance(target, ast.Attribute):
            if isinstance(target.value, ast.Name) and target.value.id == "self":
                cls = self._enclosing_class()
                if cls is not None:
                    cls.attrs[target.attr] = Binding(VALUE if value is not None else UNKNOWN, node, value)
            return
        for name, v in _pairs(target, value):
            self.bind(name.id, Binding(VALUE, node, v) if v is not None else Binding(UNKNOWN, node))

    def bind_import(self, node: ast.Import | ast.ImportFrom) -> None:
        for name, qual in _import_names(node):
            self.bind(name, Binding(IMPORT, node, qual))

    def declare_global(self, names: list[str]) -> None:
        self.scope.globals.update(names)

    def bind_params(self, args: ast.arguments, node: ast.AST) -> None:
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if a is not None:
                self.bind(a.arg, Binding(UNKNOWN, node))

    def _enclosing_class(self) -> Scope | None:
        scope: Scope | None = self.scope
        while scope is not None and scope.kind != "class":
            scope = scope.parent
        return scope

    @property
    def in_function(self) -> bool:
        scope: Scope | None = self.scope
        while scope is not None:
            if scope.kind == "function":
                return True
            scope = scope.parent
        return False

    # -- lookups ---------------------------------------------------------------------------------
    def lookup(self, name: str) -> Binding | None:
        """The binding of ``name`` that reaches the current point, or None (builtin or undefined)."""
        scope: Scope | None = self.scope
        first = True
        while scope is not None:
            if first or scope.kind != "class":  # class bodies are not visible from their methods
                b = scope.names.get(name)
                if b is not None:
                    return b
            first = False
            scope = scope.parent
        if self.scope is not self.module:
            return self._module_final.get(name)
        return None

    def attribute_binding(self, node: ast.Attribute) -> Binding | None:
        """The binding of ``self.x`` made in a method of the enclosing class."""
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            cls = self._enclosing_class()
            if cls is not None:
                return cls.attrs.get(node.attr)
        return None

    def binding_of(self, node: ast.AST) -> Binding | None:
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return self.attribute_binding(node)
        return None

    def qualname(self, node: ast.AST, depth: int = 0) -> str | None:
        """Qualified name of a name or attribute chain, resolved through imports and aliases.

        A name with no binding (builtin, star import, defined elsewhere) keeps its spelling; a name
        bound to a value that is not an alias of an import (a variable) has no qualified name.
        """
        if isinstance(node, ast.Name):
            b = self.lookup(node.id)
            if b is None:
                return node.id
            if b.kind == IMPORT:
                return b.value  # type: ignore[return-value]
            if depth < _MAX_DEPTH and isinstance(b.expr, ast.Name | ast.Attribute):
                return self.qualname(b.expr, depth + 1)
            if b.kind in (DEF, CLASS):
                return node.id
            return None
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value, depth)
            return f"{base}.{node.attr}" if base else None
        return None

    def value(self, node: ast.AST | None, default: object = MISSING, depth: int = 0) -> object:
        """Literal value of an expression: a constant, or a name whose reaching binding is one."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
            v = node.operand.value
            if isinstance(node.op, ast.USub) and type(v) in (int, float):
                return -v  # type: ignore[operator]
            if isinstance(node.op, ast.Not) and type(v) is bool:
                return not v
        elif depth < _MAX_DEPTH and isinstance(node, ast.Name | ast.Attribute):
            b = self.binding_of(node)
            if b is not None and b.expr is not None:
                return self.value(b.expr, default, depth + 1)
        return default

    def origin(self, node: ast.AST | None, depth: int = 0) -> str | None:
        """Qualified name of the call that produced a value (through aliases and ``.to()``/``.eval()``)."""
        while isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in SAME_OBJECT_METHODS:
                node = func.value
                continue
            if isinstance(func, ast.Attribute):
                base = self.qualname(func.value)
                return f"{base}.{func.attr}" if base else None
            return self.qualname(func)
        if depth < _MAX_DEPTH and isinstance(node, ast.Name | ast.Attribute):
            b = self.binding_of(node)
            if b is not None and b.expr is not None:
                return self.origin(b.expr, depth + 1)
        return None

    def rebind_globals(self) -> None:
        """``exec(...)`` or ``globals().update(...)``: any module-level name may hold anything now
        (nanoGPT's configurator overrides its defaults this way)."""
        for b in (*self.module.names.values(), *self._module_final.values()):
            b.stale = True

    def mark_mutated(self, node: ast.AST) -> None:
        """A container bound to ``node`` changes in place: its literal contents no longer tell."""
        b = self.binding_of(node)
        if b is not None:
            b.mutated = True

    # -- keyword arguments -----------------------------------------------------------------------
    def keywords(self, call: ast.Call) -> tuple[dict[str, ast.keyword], bool]:
        """Keyword arguments of a call with ``**`` dicts that can be read expanded, and whether
        some ``**`` argument could not be read (it may supply any keyword)."""
        out: dict[str, ast.keyword] = {}
        opaque = False
        for kw in call.keywords:
            if kw.arg is not None:
                out[kw.arg] = kw
                continue
            entries = self._dict_entries(kw.value)
            if entries is None:
                opaque = True
                continue
            for key, value in entries:
                out.setdefault(key, ast.keyword(arg=key, value=value, lineno=value.lineno,
                                                col_offset=value.col_offset, end_lineno=value.end_lineno,
                                                end_col_offset=value.end_col_offset))
        return out, opaque

    def _dict_entries(self, node: ast.expr, depth: int = 0) -> list[tuple[str, ast.expr]] | None:
        if isinstance(node, ast.Dict):
            entries = []
            for k, v in zip(node.keys, node.values, strict=True):
                if k is None:  # {**other}
                    inner = self._dict_entries(v, depth + 1) if depth < _MAX_DEPTH else None
                    if inner is None:
                        return None
                    entries.extend(inner)
                elif isinstance(k, ast.Constant) and isinstance(k.value, str):
                    entries.append((k.value, v))
                else:
                    return None
            return entries
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" \
                and not node.args and self.lookup("dict") is None:
            if any(kw.arg is None for kw in node.keywords):
                return None
            return [(kw.arg, kw.value) for kw in node.keywords if kw.arg is not None]
        if isinstance(node, ast.Name) and depth < _MAX_DEPTH:
            b = self.lookup(node.id)
            if b is not None and b.expr is not None and not b.mutated:
                return self._dict_entries(b.expr, depth + 1)
        return None


def _import_names(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    """``(bound name, qualified name)`` of an import statement (relative imports are skipped)."""
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.asname:
                yield a.asname, a.name
            else:
                head = a.name.partition(".")[0]
                yield head, head
    elif node.module and not node.level:
        for a in node.names:
            if a.name != "*":
                yield a.asname or a.name, f"{node.module}.{a.name}"


def _same(a: Binding, b: Binding) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == VALUE:
        va, vb = a.value, b.value
        return isinstance(va, ast.Constant) and isinstance(vb, ast.Constant) and va.value == vb.value \
            and type(va.value) is type(vb.value)
    return a.kind == IMPORT and a.value == b.value
