"""Inputs that used to hang bplint finish within a hard time bound, with a clear message.

Each run is a subprocess with a timeout, so that a regression fails instead of hanging the suite;
the bound applies to the work, measured inside the process, not to the interpreter's start-up.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from bplint_testutil import run_cli

BOUND_S = 1.0  # a FIFO, a device or /dev/null: answered at once
pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes and /dev/zero")


def timed(code: str) -> dict:
    """Run ``code`` (which sets ``result``) in a fresh interpreter; returns result and seconds."""
    script = textwrap.dedent("""\
        import json, time
        t0 = time.perf_counter()
        {code}
        print(json.dumps({{"seconds": time.perf_counter() - t0, "result": result}}))
        """).format(code=textwrap.indent(textwrap.dedent(code), "").strip())
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


LINT_TREE = """
from bplint.config import Config
from bplint.engine import discover, run
config = Config()
config.root = {root!r}
found = discover([{root!r}], config)
result = [[p.rsplit("/", 1)[-1], f.code, f.message] for p, f in run(found.files, config, use_cache=False)]
"""


def test_fifo_and_link_to_dev_zero_in_a_tree(tmp_path):
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    (tmp_path / "ok.py").write_text("import torch\ntorch.load(p)\n")
    out = timed(LINT_TREE.format(root=str(tmp_path)))
    assert out["seconds"] < BOUND_S
    assert sorted(map(tuple, out["result"])) == [
        ("ok.py", "BPL203", "torch.load() without weights_only=True unpickles the file and can run arbitrary "
                            "code: pass weights_only=True or use safetensors"),
        ("pipe.py", "BPL000", "not a regular file: a named pipe (FIFO)"),
        ("zero.py", "BPL000", "not a regular file: a character device"),
    ]


@pytest.mark.parametrize("name,what", [("pipe.py", "a named pipe (FIFO)"), ("zero.py", "a character device"),
                                       ("/dev/null", "a character device")])
def test_special_files_named_on_the_command_line_are_usage_errors(tmp_path, name, what):
    if name == "pipe.py":
        os.mkfifo(tmp_path / name)
    elif name == "zero.py":
        (tmp_path / name).symlink_to("/dev/zero")
    proc = run_cli(name, cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{name}: not a regular file or directory: {what}" in proc.stderr
    assert "no such file" not in proc.stderr


def test_huge_dependency_list_is_read_in_linear_time(tmp_path):
    # 100,000 entries took over a minute when each one was searched from the start of the text.
    out = timed("""
        from bplint.engine import analyse
        deps = "".join(f'    "package-{i}>=1.0",\\n' for i in range(100_000))
        text = "[project]\\nname = 'x'\\ndependencies = [\\n" + deps + "]\\n"
        found = analyse("pyproject.toml", "pyproject", text.encode(), {"pin_policy": "application"}).findings
        result = [len(found), found[-1].line, found[-1].col]
        """)
    assert out["result"] == [100_000, 100_003, 4]
    assert out["seconds"] < 10, out["seconds"]
