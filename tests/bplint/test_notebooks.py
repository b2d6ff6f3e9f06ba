"""Notebooks: cell locations, magics, install commands."""

import functools
import json

import bplint_testutil
from bplint_testutil import notebook

lint = functools.partial(bplint_testutil.lint, families=bplint_testutil.CORE)


def nb_findings(*cells):
    return [(f.code, f.cell, f.line, f.col) for f in lint(notebook(*cells), "notebook", path="nb.ipynb")]


def test_cells_are_numbered_among_all_cells_from_one():
    found = nb_findings(("markdown", "# Title"), "import torch\n", ("markdown", "text"),
                        "x = 1\ny = torch.load(p)\n")
    assert found == [("BPL203", 4, 2, 4)]


def test_line_magics_and_shell_lines_are_neutralised():
    found = nb_findings("""\
        %matplotlib inline
        %load_ext autoreload
        !ls -la
        files = !ls
        t = %timeit -o f()
        import torch
        torch.load?
        ??torch.load
        if True:
            !echo hi
        !echo a \\
            b
        torch.load(p)
        """)
    assert found == [("BPL203", 1, 13, 0)]


def test_cell_magics():
    assert nb_findings("%%time\nimport torch\ntorch.load(p)\n") == [("BPL203", 1, 3, 0)]
    # not Python: skipped
    assert nb_findings("%%html\n<b>torch.load(p)</b>\n") == []
    assert nb_findings("%%writefile x.py\nimport torch\ntorch.load(p)\n") == []


def test_pip_install_commands():
    found = nb_findings("""\
        %pip install -q transformers==5.24.0 datasets
        !pip install -U "torch>=2" --index-url https://download.pytorch.org/whl/cpu
        !python -m pip install --quiet accelerate
        !pip3 install -r requirements.txt
        !pip install -c constraints.txt peft
        !pip install {pkg} $PKG
        !uv pip install trl
        !pip install --upgrade pip
        """)
    assert found == [("BPL102", 1, 1, 37), ("BPL102", 1, 2, 17), ("BPL102", 1, 3, 31), ("BPL102", 1, 7, 16)]


def test_pip_install_through_sys_executable():
    assert nb_findings("import sys\n!{sys.executable} -m pip install peft\n") == [("BPL102", 1, 2, 33)]


def test_neutralised_cells_keep_their_line_count():
    from bplint.sources import neutralise_cell

    lines = ["%matplotlib inline", "!pip install x \\", "   y", "a = !ls", "x?", "import os", "%%time"]
    assert len(neutralise_cell(lines, 1, []).split("\n")) == len(lines)


def test_pip_install_in_bash_cell():
    assert nb_findings("%%bash\npip install peft\n") == [("BPL102", 1, 2, 12)]


def test_noqa_per_line_in_cell_and_file_level_disable():
    found = nb_findings("import torch\ntorch.load(p)  # noqa: BPL203\ntorch.load(q)\n")
    assert found == [("BPL203", 1, 3, 0)]
    assert nb_findings("# bplint: disable=BPL2\n", "import torch\ntorch.load(p)\n") == []
    # a prefix followed by an explanation, as the project's notebooks write it
    assert nb_findings("import torch\ntorch.load(p)  # noqa: BPL2  demonstration of a hostile file\n") == []


def test_syntax_error_in_one_cell_does_not_stop_the_others():
    found = nb_findings("def f(:\n", "import torch\ntorch.load(p)\n")
    assert found == [("BPL000", 1, 1, 6), ("BPL203", 2, 2, 0)]


def test_source_as_string_and_nbformat3():
    doc = {"cells": [{"cell_type": "code", "source": "import pickle\npickle.load(f)\n"}]}
    assert [f.code for f in lint(json.dumps(doc), "notebook")] == ["BPL204"]
    v3 = {"worksheets": [{"cells": [{"cell_type": "code", "input": ["import pickle\n", "pickle.load(f)"]}]}],
          "nbformat": 3}
    assert [f.code for f in lint(json.dumps(v3), "notebook")] == ["BPL204"]


def test_imports_in_earlier_cells_resolve():
    assert nb_findings("import torch as th\n", "th.load(p)\n") == [("BPL203", 2, 1, 0)]


def test_positions_in_the_notebook_file_for_the_standard_layout():
    text = notebook(("markdown", "# T\n"), "import os\n", "x = 1\nimport pickle\nobj = pickle.load(fh)\n")
    (f,) = lint(text, "notebook", path="nb.ipynb")
    assert (f.code, f.cell, f.line, f.col) == ("BPL204", 3, 3, 6)
    line, col, end_line, end_col = f.file_pos
    raw = text.splitlines()[line - 1]
    assert raw[col:end_col] == "pickle.load(fh)" and end_line == line


def test_no_file_positions_for_other_layouts():
    compact = json.dumps({"cells": [{"cell_type": "code", "source": ["import pickle\n", "pickle.load(f)"]}]})
    (f,) = lint(compact, "notebook")
    assert f.file_pos is None and (f.cell, f.line) == (1, 2)
