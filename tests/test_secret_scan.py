import json

from utils.topics import secret_scan

# Built at run time so that this file itself holds no token-shaped literal.
FAKE_HF = "hf_" + "Ab3d" * 9
FAKE_AWS = "AKIA" + "ABCD2345" * 2


def test_finds_tokens_and_redacts_them():
    findings = secret_scan.find_secrets(f"token = '{FAKE_HF}'\nkey={FAKE_AWS}", "here")
    assert {f.kind for f in findings} == {"Hugging Face token", "AWS access key id"}
    assert all(FAKE_HF not in f.redacted and FAKE_AWS not in f.redacted for f in findings)
    assert secret_scan.redact(FAKE_HF) == "hf_A… (39 characters)"


def test_ordinary_text_is_clean():
    text = "hf_hub_download(repo_id='x') sk-learn AKIA hf_token=os.environ['HF_TOKEN']"
    assert secret_scan.find_secrets(text) == []


def test_token_from_env(monkeypatch):
    monkeypatch.setenv("BP_TEST_TOKEN", "value")
    assert secret_scan.token_from_env("BP_TEST_TOKEN") == "value"
    monkeypatch.setenv("BP_TEST_TOKEN", "")
    assert secret_scan.token_from_env("BP_TEST_TOKEN") is None
    monkeypatch.delenv("BP_TEST_TOKEN")
    assert secret_scan.token_from_env("BP_TEST_TOKEN") is None


def test_scan_notebook_checks_sources_and_outputs(tmp_path):
    notebook = {
        "cells": [
            {"cell_type": "code", "source": ["import os\n", "token = os.environ['HF_TOKEN']"], "outputs": []},
            {
                "cell_type": "code",
                "source": "print(token)",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": [f"{FAKE_HF}\n"]},
                    {"output_type": "execute_result", "data": {"text/plain": "42"}},
                ],
            },
            {"cell_type": "markdown", "source": "no secrets here"},
        ]
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    findings = secret_scan.scan_notebook(path)
    assert [(f.kind, f.where) for f in findings] == [("Hugging Face token", "cell 1 output")]


def test_scan_notebook_reads_errors_and_displays(tmp_path):
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "source": "",
                "outputs": [
                    {"output_type": "error", "ename": "ValueError", "evalue": FAKE_HF, "traceback": []},
                    {"output_type": "display_data", "data": {"text/html": f"<b>{FAKE_AWS}</b>"}},
                ],
            }
        ]
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    kinds = sorted(f.kind for f in secret_scan.scan_notebook(path))
    assert kinds == ["AWS access key id", "Hugging Face token"]


class FakeSession:
    def __init__(self):
        self.sent = []

    def send(self, stream, msg_or_type, content=None, parent=None, ident=None):
        self.sent.append(msg_or_type)


def test_kernel_outputs_records_what_the_session_sends(monkeypatch):
    session = FakeSession()
    shell = type("Shell", (), {"displayhook": type("Hook", (), {"session": session})()})()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    outputs = secret_scan.KernelOutputs().start()
    assert outputs.available
    session.send(
        "iopub", {"header": {"msg_type": "stream"}, "content": {"name": "stdout", "text": "hello\n"}}
    )
    session.send("iopub", "error", {"ename": "E", "evalue": FAKE_HF, "traceback": ["Traceback"]})
    session.send("shell", "execute_reply", {"status": "ok"})
    outputs.stop()
    session.send("iopub", "stream", {"name": "stdout", "text": FAKE_AWS})
    assert outputs.counts() == {"stream": 1, "error": 1}
    assert [f.kind for f in outputs.scan()] == ["Hugging Face token"]
    assert len(session.sent) == 4, "every message still reaches the page"


def test_kernel_outputs_outside_a_kernel_is_unavailable():
    outputs = secret_scan.KernelOutputs().start()
    assert not outputs.available and outputs.counts() == {}


def test_kernel_outputs_in_a_real_kernel():
    """Printed text, displays, results and errors of a real IPython kernel are all recorded."""
    import nbformat
    from nbclient import NotebookClient

    cells = [
        "from utils.topics import secret_scan\noutputs = secret_scan.KernelOutputs().start()",
        "from IPython.display import HTML, display",
        "print('printed')\ndisplay(HTML('<i>shown</i>'))\n'result'",
        "try:\n    raise ValueError('raised')\nexcept ValueError:\n    get_ipython().showtraceback()",
        "outputs.stop()\nprint(outputs.counts(), repr(outputs.text()))",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    report = notebook.cells[-1].outputs[0]["text"]
    for part in ("'stream': 1", "'display_data': 1", "'execute_result': 1", "'error': 1"):
        assert part in report
    for text in ("printed", "<i>shown</i>", "result", "raised"):
        assert text in report


def test_a_known_secret_is_found_whatever_its_shape():
    value = "plain-looking-" + "x" * 8
    findings = secret_scan.find_secrets(f"echo {value}", "log", known=(value, ""))
    assert [(f.kind, f.redacted) for f in findings] == [("known secret", "plai… (22 characters)")]
