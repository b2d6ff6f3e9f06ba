"""Unreadable and malformed input: one BPL000 per file (or cell), never a traceback."""

import functools
import json

import bplint_testutil
import pytest
from bplint_testutil import lint_source, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bplint.sources import MAX_FILE_SIZE

lint = functools.partial(bplint_testutil.lint, families=bplint_testutil.CORE)

OPTS = {"cpu_only": False, "pin_policy": "application"}


@pytest.mark.parametrize("kind,data,reason", [
    ("python", b"def f(:\n    pass\n", "SyntaxError"),
    ("python", b"x = '\xff\xfe'\n", "decode"),
    ("python", b"\x7fELF\x00\x01\x02", "binary"),
    ("notebook", b"{not json", "invalid notebook"),
    ("notebook", b"[1, 2]", "not a notebook"),
    ("notebook", b'{"cells": 3}', "not a notebook"),
    ("pyproject", b"[project\nname=", "invalid TOML"),
    ("requirements", b"torch\x00", "binary"),
])
def test_one_parse_error_per_file(kind, data, reason):
    found = lint_source("f", kind, data, OPTS)
    assert [f.code for f in found] == ["BPL000"]
    assert reason in found[0].message


def test_parse_error_can_be_disabled_for_the_file():
    assert lint("# bplint: disable=BPL000\ndef f(:\n") == []
    assert [f.code for f in lint("def f(:  # noqa\n")] == ["BPL000"]


def test_syntax_error_location():
    (f,) = lint("x = 1\ny = (\n")
    assert f.code == "BPL000" and f.line == 2


def test_coding_cookie_is_honoured():
    data = "# -*- coding: latin-1 -*-\nimport pickle\npickle.load(f)  # café\n".encode("latin-1")
    assert [f.code for f in lint(data)] == ["BPL204"]


def test_unknown_coding_cookie_is_a_parse_error():
    # Python refuses such a file ("unknown encoding"), even when its bytes are valid UTF-8
    (f,) = lint(b"# -*- coding: no-such-codec -*-\nimport pickle\npickle.load(f)\n")
    assert f.code == "BPL000" and "unknown encoding in the coding declaration: 'no-such-codec'" in f.message
    (f,) = lint(b"#!/usr/bin/env python\n# coding: latin-1\nx = '\xe9'\n\x00")
    assert f.code == "BPL000" and "binary" in f.message


def test_bad_cell_source_type():
    doc = {"cells": [{"cell_type": "code", "source": [1, 2]},
                     {"cell_type": "code", "source": "import pickle\npickle.load(f)"}]}
    found = lint(json.dumps(doc), "notebook")
    assert [(f.code, f.cell) for f in found] == [("BPL000", 1), ("BPL204", 2)]


def test_deeply_nested_expression_does_not_crash():
    src = "x = " + "(" * 300 + "1" + ")" * 300 + "\n" + "y = " + " + ".join(["a"] * 5000) + "\n"
    found = lint(src)
    assert all(f.code in ("BPL000",) for f in found)


def test_internal_rule_error_becomes_a_finding(monkeypatch):
    from bplint.rules.security import PickleLoad

    def boom(self, node):
        raise RuntimeError("boom")

    monkeypatch.setattr(PickleLoad, "visit", boom)
    found = lint("import torch\ntorch.load(p)\n")
    assert sorted(f.code for f in found) == ["BPL203", "BPL900"]
    assert "BPL204" in next(f for f in found if f.code == "BPL900").message


def test_bad_files_in_a_tree_do_not_stop_the_run(project):
    project("a_syntax.py", "def f(:\n")
    project("b_binary.py", b"\x00\x01\x02")
    project("c_undecodable.py", b"x = '\xff'\n")
    project("d_bad.ipynb", "{oops")
    project("e_huge.py", b"# " + b"x" * (MAX_FILE_SIZE + 10) + b"\n")
    project("requirements.txt", b"\xff\xfe\x00")
    project("z_good.py", "import pickle\npickle.load(f)\n")
    proc = run_cli("--no-cache", "--format", "json", cwd=project.root)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    by_path = {}
    for d in data:
        by_path.setdefault(d["path"], []).append(d["code"])
    assert by_path == {"a_syntax.py": ["BPL000"], "b_binary.py": ["BPL000"], "c_undecodable.py": ["BPL000"],
                       "d_bad.ipynb": ["BPL000"], "e_huge.py": ["BPL000"], "requirements.txt": ["BPL000"],
                       "z_good.py": ["BPL204"]}
    huge = next(d for d in data if d["path"] == "e_huge.py")
    assert "too large" in huge["message"]
    text = run_cli("--no-cache", cwd=project.root)
    assert "Traceback" not in text.stdout + text.stderr


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_never_crashes_on_arbitrary_text(text):
    for kind in ("python", "notebook", "requirements", "pyproject"):
        for f in lint_source("f", kind, text.encode("utf-8", "surrogatepass"), OPTS):
            assert f.code != "BPL900", f.message


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12,
)
_cell = st.fixed_dictionaries({"cell_type": st.sampled_from(["code", "markdown", "raw", 3]),
                               "source": st.one_of(_json, st.text(max_size=80),
                                                   st.lists(st.text(max_size=30), max_size=4))})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_json, st.fixed_dictionaries({"cells": st.lists(_cell, max_size=4)}),
                 st.fixed_dictionaries({"cells": _json})))
def test_never_crashes_on_arbitrary_notebook_json(doc):
    for f in lint_source("nb.ipynb", "notebook", json.dumps(doc).encode(), OPTS):
        assert f.code != "BPL900", f.message
