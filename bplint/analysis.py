"""Per-document analysis context and the single-pass AST walker shared by all rules.

The walker visits nodes in source order (notebook cells in order), calls the rules that asked for
each node type, and keeps the semantic model (``bplint.semantic``) up to date on the way: a name is
bound when the walk leaves the statement that binds it, so that a rule looking at a call sees the
bindings that reach that call.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any, ClassVar

from bplint.registry import Finding, Fix, Location, Rule
from bplint.semantic import CLASS, DEF, MISSING, Binding, SemanticModel, dotted
from bplint.sources import Install

__all__ = ["MISSING", "Context", "dotted", "has_star_args", "keyword"]

Push = Callable[[Any], None]  # puts a node (or a walk instruction) on the walker's stack
# Fields that never hold child nodes worth visiting (names, operators, expression contexts).
_SKIP_FIELDS = frozenset({"ctx", "op", "id", "attr", "kind", "type_comment", "conversion", "is_async",
                          "simple", "level", "module", "name", "arg", "type_ignores", "names"})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_MUTATORS = frozenset({"update", "setdefault", "pop", "popitem", "clear", "__setitem__"})


def _child_fields(t: type[ast.AST]) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(t)
    if fields is None:
        fields = _CHILD_FIELDS[t] = tuple(f for f in t._fields if f not in _SKIP_FIELDS)
    return fields


def keyword(call: ast.Call, name: str) -> ast.keyword | None:
    """The keyword ``name`` written in the call itself (see ``Context.kwarg`` for ``**`` dicts)."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw
    return None


def has_star_args(call: ast.Call) -> bool:
    return any(isinstance(a, ast.Starred) for a in call.args)


def _builtin(ctx: Context, func: ast.AST, name: str) -> bool:
    return isinstance(func, ast.Name) and func.id == name and ctx.semantic.lookup(name) is None


class _Marker:
    """Walk instruction pushed on the stack next to nodes: run ``action(node)`` when popped."""

    __slots__ = ("action", "node")

    def __init__(self, action: Callable[[Any], None], node: ast.AST) -> None:
        self.action = action
        self.node = node


class Context:
    """Facts about one document, shared by the rules while they run over it."""

    def __init__(self, path: str, kind: str, options: dict[str, Any], rules: list[type[Rule]],
                 text: str = "") -> None:
        self.path = path
        self.kind = kind
        self.options = options
        self.text = text
        self.findings: list[Finding] = []
        self.semantic = SemanticModel()
        self.cell: int | None = None
        self.scopes: list[ast.AST] = []  # enclosing functions (and lambdas), innermost last
        # Documents other than Python code; filled in by the reader.
        self.requirements: list[tuple[int, int, str]] = []
        self.installs: list[Install] = []
        self.pyproject: dict[str, Any] | None = None
        self.notebook: dict[str, Any] | None = None  # the parsed notebook JSON (notebooks only)
        # Source lines of the document (key None) or of each notebook cell, for character columns,
        # and the columns that IPython prompts (``>>> ``) took from the start of some lines.
        self.lines: dict[int | None, list[str]] = {}
        self.prompt_cols: dict[tuple[int | None, int], int] = {}
        self._collectors: dict[type, Any] = {}
        self.rules: list[Rule] = []
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
        self._dispatch: dict[type, list[Callable[[Any], None]]] = {}
        self._build_dispatch()

    # -- reporting ---------------------------------------------------------------------------
    def loc(self, node: Any) -> Location:
        if isinstance(node, Location):
            return node
        line = getattr(node, "lineno", 1) or 1
        col = getattr(node, "col_offset", 0) or 0
        return Location(line, col, getattr(node, "end_lineno", None) or line,
                        getattr(node, "end_col_offset", None) or col, cell=self.cell)

    def char_col(self, cell: int | None, line: int, col: int) -> int:
        """Character column of an AST (UTF-8 byte) column on a line of the document or cell."""
        lines = self.lines.get(cell)
        if lines and 1 <= line <= len(lines):
            text = lines[line - 1]
            if not text.isascii():
                col = len(text.encode("utf-8")[:col].decode("utf-8", "ignore"))
        return col + self.prompt_cols.get((cell, line), 0)

    def add(self, code: str, message: str, where: Any, cell: int | None = None, fix: Fix | None = None,
            char_columns: bool = False) -> None:
        """Record a finding at an AST node or a location (byte columns, unless ``char_columns``)."""
        loc = self.loc(where)
        c = cell if cell is not None else loc.cell
        col, end_col = loc.col, loc.end_col
        if not char_columns:
            col = self.char_col(c, loc.line, col)
            end_col = self.char_col(c, loc.end_line, end_col)
            if fix is not None:
                fix = Fix([(a, self.char_col(c, a, b), e, self.char_col(c, e, d), text)
                           for a, b, e, d, text in fix.edits], safe=fix.safe, title=fix.title)
        self.findings.append(Finding(code, message, loc.line, col, loc.end_line, end_col, c, fix=fix))

    @property
    def scope(self) -> ast.AST | None:
        return self.scopes[-1] if self.scopes else None

    # -- questions for the semantic model --------------------------------------------------------
    def qualname(self, node: ast.AST) -> str | None:
        """Qualified name of a name or attribute chain (``transformers.pipeline``), see SemanticModel."""
        return self.semantic.qualname(node)

    def last_name(self, node: ast.AST) -> str | None:
        """Last component of a callee: ``attr`` of an attribute, else the resolved name."""
        if isinstance(node, ast.Attribute):
            return node.attr
        q = self.qualname(node)
        return q.rpartition(".")[2] if q else None

    def callee(self, call: ast.Call) -> tuple[str | None, str | None]:
        """``(qualified name, last name)`` of a call's callee, computed once per call node (when
        the walk reaches it, with the bindings that reach it)."""
        cached: tuple[str | None, str | None] | None = getattr(call, "_bplint_callee", None)
        if cached is None:
            func = call.func
            q = self.qualname(func)
            if isinstance(func, ast.Attribute):
                last = func.attr
            elif isinstance(func, ast.Name):
                last = q.rpartition(".")[2] if q else func.id
            else:
                last = None
            cached = call._bplint_callee = (q, last)  # type: ignore[attr-defined]
        return cached

    def value(self, node: ast.AST | None, default: object = None) -> object:
        """Literal value of an expression (constants reached through names), else ``default``."""
        return self.semantic.value(node, default)

    def str_value(self, node: ast.AST | None) -> str | None:
        v = self.value(node)
        return v if isinstance(v, str) else None

    def origin(self, node: ast.AST | None) -> str | None:
        """Qualified name of the call that produced a value, see SemanticModel.origin."""
        return self.semantic.origin(node)

    def binding(self, node: ast.AST) -> Binding | None:
        return self.semantic.binding_of(node)

    def local_class(self, node: ast.AST) -> ast.ClassDef | None:
        """The class definition a name refers to, when the document defines it."""
        b = self.semantic.binding_of(node)
        return b.node if b is not None and b.kind == CLASS and isinstance(b.node, ast.ClassDef) else None

    def builds_keywords(self, call: ast.Call) -> bool:
        """``dict(a=1)``: a call of the builtin that collects keywords for a later call, which
        rules judge where the keywords are used."""
        return isinstance(call.func, ast.Name) and call.func.id == "dict" and self.binding(call.func) is None

    def kwargs(self, call: ast.Call) -> tuple[dict[str, ast.keyword], bool]:
        """``({name: keyword}, opaque)``: keywords with readable ``**`` dicts expanded, and whether
        a ``**`` argument could not be read. Cached per call node."""
        cached: tuple[dict[str, ast.keyword], bool] | None = getattr(call, "_bplint_kwargs", None)
        if cached is None:
            cached = call._bplint_kwargs = self.semantic.keywords(call)  # type: ignore[attr-defined]
        return cached

    def kwarg(self, call: ast.Call, name: str) -> ast.keyword | None:
        return self.kwargs(call)[0].get(name)

    def opaque_kwargs(self, call: ast.Call) -> bool:
        """A ``**`` argument that bplint cannot read might supply any keyword."""
        return self.kwargs(call)[1]

    def kw_value(self, call: ast.Call, name: str, absent: object = None, unknown: object = MISSING) -> object:
        """Literal value of keyword ``name``: ``absent`` when not given, ``unknown`` when not literal."""
        kw = self.kwarg(call, name)
        if kw is None:
            return unknown if self.opaque_kwargs(call) else absent
        return self.value(kw.value, unknown)

    def collector(self, cls: type) -> Any:
        return self._collectors[cls]

    def version(self, package: str) -> tuple[tuple[int, ...] | None, int | None]:
        """``(lowest allowed version, highest allowed major)`` of a package, from the document's own
        install commands, requirement files next to it, or the project's pins; Nones when unknown."""
        pins = self.options.get("pins") or {}
        low, high = pins.get(package, (None, None))
        return (tuple(low) if low is not None else None), high

    # -- the walk ----------------------------------------------------------------------------
    def prescan(self, trees: list[ast.Module]) -> None:
        if self.rules:
            self.semantic.prescan(trees)

    def _build_dispatch(self) -> None:
        dispatch: dict[type, list[Callable[[Any], None]]] = {}
        for coll in self._collectors.values():
            for t in coll.node_types:
                dispatch.setdefault(t, []).append(coll.visit)
        for rule in self.rules:
            if rule.code in self._failed:
                continue
            for t in rule.node_types:
                dispatch.setdefault(t, []).append(rule.visit)
        self._dispatch = dispatch

    def _rule_failed(self, rule: Rule, exc: BaseException, where: Any = None) -> None:
        self._failed.add(rule.code)
        self.add("BPL900", f"internal error in rule {rule.code} ({rule.name}): "
                 f"{type(exc).__name__}: {exc}"[:300], where if where is not None else Location(1, 0))
        self._build_dispatch()

    def walk(self, tree: ast.AST, cell: int | None = None) -> None:
        self.cell = cell
        if not self.rules:
            return
        stack: list[Any] = [tree]
        pop = stack.pop
        push = stack.append
        structure = self._structure
        child_fields = _CHILD_FIELDS
        while stack:
            node = pop()
            t = type(node)
            if t is _Marker:
                node.action(node.node)
                continue
            handlers = self._dispatch.get(t)
            if handlers:
                for h in handlers:
                    try:
                        h(node)
                    except Exception as exc:  # a rule bug must never abort the lint
                        owner = getattr(h, "__self__", None)
                        if isinstance(owner, Rule):
                            self._rule_failed(owner, exc, node)
            special = structure.get(t)
            if special is not None and special(self, node, push):
                continue
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
                        if isinstance(x, ast.AST):
                            push(x)
                elif isinstance(v, ast.AST):
                    push(v)

    # Structural nodes: the order in which their parts are visited and when names are bound. Each
    # returns True when it pushed the children itself.
    def _push_all(self, nodes: list[Any], push: Push) -> None:
        for n in reversed(nodes):
            if n is not None:
                push(n)

    def _enter_function(self, node: Any) -> None:
        self.semantic.push("function", node)
        self.semantic.bind_params(node.args, node)
        self.scopes.append(node)

    def _exit_function(self, node: Any) -> None:
        self.semantic.pop()
        self.scopes.pop()

    def _function(self, node: Any, push: Push) -> bool:
        args = node.args
        body = node.body if isinstance(node.body, list) else [node.body]
        push(_Marker(self._exit_function, node))
        self._push_all(body, push)
        push(_Marker(self._enter_function, node))
        if not isinstance(node, ast.Lambda):
            push(_Marker(self._bind_def, node))
            self._push_all([*node.decorator_list, node.returns], push)
        self._push_all([*args.defaults, *args.kw_defaults], push)
        return True

    def _bind_def(self, node: Any) -> None:
        self.semantic.bind(node.name, Binding(DEF, node))

    def _class(self, node: Any, push: Push) -> bool:
        push(_Marker(self._exit_class, node))
        self._push_all(node.body, push)
        push(_Marker(lambda n: self.semantic.push("class", n), node))
        self._push_all([*node.decorator_list, *node.bases, *node.keywords], push)
        return True

    def _exit_class(self, node: Any) -> None:
        self.semantic.pop()
        self.semantic.bind(node.name, Binding(CLASS, node))

    def _comprehension(self, node: Any, push: Push) -> bool:
        push(_Marker(lambda n: self.semantic.pop(), node))
        if isinstance(node, ast.DictComp):
            self._push_all([node.key, node.value], push)
        else:
            push(node.elt)
        for gen in reversed(node.generators):
            self._push_all(gen.ifs, push)
            push(_Marker(self._bind_loop_target, gen))
            push(gen.iter)
        push(_Marker(lambda n: self.semantic.push("comprehension", n), node))
        return True

    def _bind_loop_target(self, node: Any) -> None:
        self.semantic.bind_target(node.target, None, node)

    def _assign(self, node: Any, push: Push) -> bool:
        push(_Marker(self._bind_assign, node))
        return False  # the generic walk pushes the children, which pop before the marker

    def _bind_assign(self, node: Any) -> None:
        t = type(node)
        if t is ast.Assign:
            for target in node.targets:
                self.semantic.bind_target(target, node.value, node)
        elif t is ast.AnnAssign or t is ast.NamedExpr:
            self.semantic.bind_target(node.target, node.value, node)
        elif t is ast.AugAssign:
            if isinstance(node.target, ast.Name):
                self.semantic.mark_mutated(node.target)
            self.semantic.bind_target(node.target, None, node)
        elif t is ast.withitem and node.optional_vars is not None:
            self.semantic.bind_target(node.optional_vars, None, node)

    def _for(self, node: Any, push: Push) -> bool:
        self._push_all([*node.body, *node.orelse], push)
        push(_Marker(self._bind_loop_target, node))
        push(node.iter)
        push(node.target)
        return True

    def _import(self, node: Any, push: Push) -> bool:
        self.semantic.bind_import(node)
        return True

    def _global(self, node: Any, push: Push) -> bool:
        self.semantic.declare_global(node.names)
        return True

    def _except(self, node: Any, push: Push) -> bool:
        if node.name:
            self.semantic.bind(node.name, Binding("unknown", node))
        return False

    def _subscript(self, node: Any, push: Push) -> bool:
        if isinstance(node.ctx, ast.Store | ast.Del):
            self.semantic.mark_mutated(node.value)
        return False

    def _call(self, node: Any, push: Push) -> bool:
        func = node.func
        if type(func) is ast.Attribute and func.attr in _MUTATORS:
            if isinstance(func.value, ast.Call) and _builtin(self, func.value.func, "globals"):
                self.semantic.rebind_globals()
            else:
                self.semantic.mark_mutated(func.value)
        elif _builtin(self, func, "exec"):
            self.semantic.rebind_globals()
        return False

    _structure: ClassVar[dict[type, Any]] = {
        ast.FunctionDef: _function, ast.AsyncFunctionDef: _function, ast.Lambda: _function,
        ast.ClassDef: _class,
        ast.ListComp: _comprehension, ast.SetComp: _comprehension, ast.GeneratorExp: _comprehension,
        ast.DictComp: _comprehension,
        ast.Assign: _assign, ast.AnnAssign: _assign, ast.AugAssign: _assign, ast.NamedExpr: _assign,
        ast.withitem: _assign,
        ast.For: _for, ast.AsyncFor: _for,
        ast.Import: _import, ast.ImportFrom: _import,
        ast.Global: _global,
        ast.ExceptHandler: _except,
        ast.Subscript: _subscript,
        ast.Call: _call,
    }

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
