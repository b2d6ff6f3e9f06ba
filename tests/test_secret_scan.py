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
