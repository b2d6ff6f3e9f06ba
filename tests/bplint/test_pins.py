"""BPL1xx: exact version pins."""

import functools

import bplint_testutil
import pytest

lint = functools.partial(bplint_testutil.lint, families=bplint_testutil.CORE)

SHA = "0123456789abcdef0123456789abcdef01234567"


def req(text: str):
    return [(f.code, f.line, f.col) for f in lint(text, "requirements", path="requirements.txt")]


def test_requirement_file_pins():
    text = f"""\
# comment
transformers==5.24.0
torch>=2.0  # range
datasets
numpy==1.*
accelerate===1.15.0
  peft>=0.10,<1
safetensors==0.8.0 ; python_version >= "3.11"
tokenizers[extra]==0.22.0 --hash=sha256:abcd
-r other.txt
-c constraints.txt
--index-url https://example.com/simple
-e .
-e git+https://github.com/org/repo@{SHA}#egg=repo
-e git+https://github.com/org/repo@main#egg=repo
./local/pkg
/abs/pkg.whl
https://example.com/pkg-1.0.tar.gz
pkg @ git+https://github.com/org/pkg@{SHA}
pkg2 @ git+https://github.com/org/pkg2@v1.0
git+ssh://git@github.com/org/pkg3.git
wheel==0.45.1 \\
    --hash=sha256:abcd
"""
    assert req(text) == [("BPL101", 3, 0), ("BPL101", 4, 0), ("BPL101", 5, 0), ("BPL101", 7, 2),
                         ("BPL101", 15, 0), ("BPL101", 20, 0), ("BPL101", 21, 0)]


def test_requirement_messages():
    (f,) = lint("torch>=2\n", "requirements")
    assert "torch==X.Y.Z" in f.message and "range" in f.message
    (f,) = lint("git+https://github.com/o/r@abc1234\n", "requirements")
    assert "commit hash" in f.message


def test_noqa_in_requirement_file():
    assert req("torch>=2  # noqa: BPL101\nnumpy\n") == [("BPL101", 2, 0)]
    assert req("# bplint: disable=BPL101\ntorch>=2\n") == []


PYPROJECT = f"""\
[project]
name = "app"
dependencies = [
    "transformers>=5",
    "torch==2.13.0",
    "peft @ git+https://github.com/huggingface/peft@main",
    "ok @ git+https://github.com/org/ok@{SHA}",
]

[project.optional-dependencies]
dev = ["pytest"]
"""


def test_pyproject_application_policy():
    found = lint(PYPROJECT, "pyproject", path="pyproject.toml")
    assert [(f.code, f.line, f.col) for f in found] == [("BPL103", 4, 4), ("BPL103", 6, 4), ("BPL103", 11, 7)]
    assert "optional-dependencies.dev" in found[2].message


def test_pyproject_library_policy_accepts_ranges():
    found = lint(PYPROJECT, "pyproject", path="pyproject.toml", pin_policy="library")
    assert [(f.code, f.line) for f in found] == [("BPL103", 6)]


def test_pyproject_without_project_table():
    assert lint('[tool.other]\nx = 1\n', "pyproject") == []
    assert lint('[project]\ndependencies = "oops"\n', "pyproject") == []


@pytest.mark.parametrize("spec,pinned", [
    ("a==1.0", True), ("a===1.0", True), ("a == 1.0", True), ("a[b,c]==1", True), ("a==1.*", False),
    ("a~=1.0", False), ("a!=1.0", False), ("a", False), ("a<2", False), ("a>=1,==1.5", True),
])
def test_specifiers(spec, pinned):
    assert (lint(spec + "\n", "requirements") == []) is pinned
