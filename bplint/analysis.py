"""Per-file analysis context and the single-pass AST walker shared by all rules."""

from __future__ import annotations

import ast

from bplint.registry import ERROR, Finding, Location, Rule

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_EXIT = object()
_MISSING = object()
_AST = ast.AST
# Fields that never hold child nodes worth visiting (names, operators, expression contexts).
_SKIP_FIELDS = frozenset({"ctx", "op", "id", "attr", "kind", "type_comment", "conversion", "is_async",
                          "simple", "level", "module", "name", "arg", "type_ignores", "names"})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(t: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(t)
    if fields is None:
        fields = _CHILD_FIELDS[t] = tuple(f for f in t._fields if f not in _SKIP_FIELDS)
    return fields


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


def keyword(call: ast.Call, name: str) -> ast.keyword | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw
    return None


def has_star_kwargs(call: ast.Call) -> bool:
    return any(kw.arg is None for kw in call.keywords)


def has_star_args(call: ast.Call) -> bool:
    return any(isinstance(a, ast.Starred) for a in call.args)


class Context:
    """Facts about one document, shared by the rules while they run over it."""

    def __init__(self, path: str, kind: str, options: dict, rules: list[type[Rule]], text: str = "") -> None:
        self.path = path
        self.kind = kind
        self.options = options
        self.findings: list[Finding] = []
        self.aliases: dict[str, str] = {}
        self.constants: dict[str, object] = {}
        self._const_seen: dict[str, object] = {}
        self.cell: int | None = None
        self.scopes: list[ast.AST] = []
        # Documents other than Python code; filled in by the reader.
        self.requirements: list = []
        self.installs: list = []
        self.pyproject: dict | None = None
        self.pyproject_text = ""
        self.text = text
        self.notebook: dict | None = None  # the parsed notebook JSON (notebooks only)
        self.fixes: list = []  # (finding, Fix)
        self._collectors: dict[type, object] = {}
        self.rules = []
        for r in rules:
            if kind not in r.kinds or (r.triggers and not any(t in text for t in r.triggers)):
                continue
            if r.triggers and not r.wanted(text):
                continue
            for c in r.collectors:
                if c not in self._collectors:
                    self._collectors[c] = c(self)
            self.rules.append(r(self))
        self._failed: set[str] = set()
        self._dispatch: dict[type, list] = {}
        self._build_dispatch()

    # -- reporting ---------------------------------------------------------------------------
    def loc(self, node) -> Location:
        if isinstance(node, Location):
            return node
        if isinstance(node, tuple):
            return Location(node[0], node[1], cell=self.cell)
        line = getattr(node, "lineno", 1) or 1
        col = getattr(node, "col_offset", 0) or 0
        return Location(line, col, getattr(node, "end_lineno", None) or line,
                        getattr(node, "end_col_offset", None) or col, cell=self.cell)

    def add(self, code: str, message: str, where, cell: int | None = None, fix=None) -> None:
        loc = self.loc(where)
        finding = Finding(code, message, loc.line, loc.col, loc.end_line, loc.end_col,
                          cell if cell is not None else loc.cell)
        self.findings.append(finding)
        if fix is not None:
            self.fixes.append((finding, fix))

    @property
    def scope(self) -> ast.AST | None:
        return self.scopes[-1] if self.scopes else None

    # -- names and constants -----------------------------------------------------------------
    def qualname(self, node: ast.AST) -> str | None:
        """Dotted name of an expression with its first part resolved through imports."""
        name = dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        target = self.aliases.get(head)
        if target is None:
            return name
        return f"{target}.{rest}" if rest else target

    def last_name(self, node: ast.AST) -> str | None:
        """Last component of a callee: ``attr`` of an attribute, else the resolved name."""
        if isinstance(node, ast.Attribute):
            return node.attr
        q = self.qualname(node)
        return q.rpartition(".")[2] if q else None

    def callee(self, call: ast.Call) -> tuple[str | None, str | None]:
        """``(qualified name, last name)`` of a call's callee, computed once per call node."""
        cached = getattr(call, "_bplint_callee", None)
        if cached is None:
            func = call.func
            q = self.qualname(func)
            last = func.attr if isinstance(func, ast.Attribute) else (q.rpartition(".")[2] if q else None)
            cached = call._bplint_callee = (q, last)
        return cached

    def collector(self, cls: type):
        return self._collectors[cls]

    def value(self, node: ast.AST | None, default=_MISSING):
        """Literal value of a constant or of a module-level constant name, else ``default``."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.constants[node.id]
        return None if default is _MISSING else default

    def str_value(self, node: ast.AST | None) -> str | None:
        v = self.value(node)
        return v if isinstance(v, str) else None

    def _on_import(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    self.aliases[a.asname] = a.name
                else:
                    head = a.name.partition(".")[0]
                    self.aliases.setdefault(head, head)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def _prescan(self, body: list[ast.stmt]) -> None:
        """Statement-level scan of module code: imports and simple constants (no expressions)."""
        stack = list(body)
        while stack:
            st = stack.pop()
            if isinstance(st, ast.Import | ast.ImportFrom):
                self._on_import(st)
            elif isinstance(st, ast.Assign):
                for t in st.targets:
                    self._bind(t, st.value)
            elif isinstance(st, ast.AnnAssign) and st.value is not None:
                self._bind(st.target, st.value)
            elif isinstance(st, ast.AugAssign | ast.For | ast.AsyncFor):
                self._bind(st.target, None)
            if isinstance(st, ast.If | ast.For | ast.AsyncFor | ast.While | ast.With | ast.AsyncWith):
                stack.extend(st.body)
                stack.extend(getattr(st, "orelse", ()))
            elif isinstance(st, ast.Try | ast.TryStar):
                stack.extend(st.body)
                stack.extend(st.orelse)
                stack.extend(st.finalbody)
                for h in st.handlers:
                    stack.extend(h.body)

    def _bind(self, target: ast.AST, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            if isinstance(value, ast.Constant) and isinstance(value.value, str | bool | int | float):
                v = value.value
            else:
                v = _MISSING
            prev = self._const_seen.get(target.id, v)
            self._const_seen[target.id] = v if prev == v and type(prev) is type(v) else _MISSING
        elif isinstance(target, ast.Tuple | ast.List):
            for elt in target.elts:
                self._bind(elt, None)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, None)

    def prescan(self, trees: list[ast.Module]) -> None:
        if not self.rules:
            return
        for tree in trees:
            self._prescan(tree.body)
        self.constants = {k: v for k, v in self._const_seen.items() if v is not _MISSING}

    # -- the walk ----------------------------------------------------------------------------
    def _build_dispatch(self) -> None:
        dispatch: dict[type, list] = {ast.Import: [self._on_import], ast.ImportFrom: [self._on_import]}
        for coll in self._collectors.values():
            for t in coll.node_types:
                dispatch.setdefault(t, []).append(coll.visit)
        for rule in self.rules:
            if rule.code in self._failed:
                continue
            for t in rule.node_types:
                dispatch.setdefault(t, []).append(rule.visit)
        self._dispatch = dispatch

    def _rule_failed(self, rule: Rule, exc: BaseException, where=None) -> None:
        self._failed.add(rule.code)
        self.add("BPL900", f"internal error in rule {rule.code} ({rule.name}): "
                 f"{type(exc).__name__}: {exc}"[:300], where if where is not None else Location(1, 0))
        self._build_dispatch()

    def walk(self, tree: ast.AST, cell: int | None = None) -> None:
        self.cell = cell
        if not self.rules:
            return
        dispatch = self._dispatch
        stack: list = [tree]
        pop = stack.pop
        append = stack.append
        child_fields = _CHILD_FIELDS
        while stack:
            node = pop()
            if node is _EXIT:
                self.scopes.pop()
                continue
            handlers = dispatch.get(type(node))
            if handlers:
                for h in handlers:
                    try:
                        h(node)
                    except Exception as exc:  # a rule bug must never abort the lint
                        owner = getattr(h, "__self__", None)
                        if isinstance(owner, Rule):
                            self._rule_failed(owner, exc, node)
                            dispatch = self._dispatch
            t = type(node)
            if t in _SCOPES:
                self.scopes.append(node)
                append(_EXIT)
            fields = child_fields.get(t)
            if fields is None:
                fields = _child_fields(t)
            # push children in reverse source order so that they pop in source order
            for f in reversed(fields):
                v = getattr(node, f, None)
                if v is None:
                    continue
                if type(v) is list:
                    for x in reversed(v):
                        if isinstance(x, _AST):
                            append(x)
                elif isinstance(v, _AST):
                    append(v)

    def finish(self) -> None:
        for coll in self._collectors.values():
            coll.finish()
        for rule in self.rules:
            if rule.code in self._failed:
                continue
            try:
                rule.finish()
            except Exception as exc:
                self._rule_failed(rule, exc)


__all__ = ["ERROR", "Context", "dotted", "has_star_args", "has_star_kwargs", "keyword"]
