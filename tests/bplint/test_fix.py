"""--fix, --diff and --unsafe-fixes: precise edits on scripts and notebook cells."""

import json

from bplint_testutil import run_cli

SCRIPT = """\
import torch
from transformers import AutoModel, Trainer, TrainingArguments

args = TrainingArguments("o", evaluation_strategy="epoch",  # keep this comment
                         no_cuda=True, bf16=True, load_best_model_at_end=False)
model = AutoModel.from_pretrained("./local", torch_dtype=torch.bfloat16, use_auth_token=True)
t = Trainer(model=model, args=args, tokenizer=tok, eval_dataset=ev)
sd = torch.load("out/pytorch_model.bin")
opt = torch.load("ckpt/optimizer.pt", map_location="cpu")
with torch.cuda.amp.autocast(dtype=torch.bfloat16):
    pass
"""

FIXED = """\
import torch
from transformers import AutoModel, Trainer, TrainingArguments

args = TrainingArguments("o", eval_strategy="epoch",  # keep this comment
                         use_cpu=True, bf16=True, load_best_model_at_end=False)
model = AutoModel.from_pretrained("./local", dtype=torch.bfloat16, token=True)
t = Trainer(model=model, args=args, processing_class=tok, eval_dataset=ev)
sd = torch.load("out/pytorch_model.bin", weights_only=True)
opt = torch.load("ckpt/optimizer.pt", map_location="cpu")
with torch.cuda.amp.autocast(dtype=torch.bfloat16):
    pass
"""


def codes_of(proc):
    return sorted(d["code"] for d in json.loads(proc.stdout))


def test_fix_script_safe_only_and_idempotent(project):
    project("requirements.txt", "transformers==5.24.0\n")  # renames are safe on transformers 5
    path = project("train.py", SCRIPT)
    root = project.root
    diff = run_cli("--diff", "--no-cache", cwd=root)
    assert diff.returncode == 1
    assert '-args = TrainingArguments("o", evaluation_strategy="epoch",  # keep this comment' in diff.stdout
    assert "+sd = torch.load(\"out/pytorch_model.bin\", weights_only=True)" in diff.stdout
    assert path.read_text() == SCRIPT  # --diff writes nothing
    proc = run_cli("--fix", "--no-cache", "--format", "json", cwd=root)
    assert path.read_text() == FIXED
    # what remains is reported and decides the exit code: optimizer.pt load, cuda.amp
    assert proc.returncode == 1
    assert codes_of(proc) == ["BPL203", "BPL503"]
    again = run_cli("--fix", "--no-cache", cwd=root)
    assert path.read_text() == FIXED
    assert "fixed 0 findings" in again.stderr
    assert run_cli("--diff", "--no-cache", cwd=root).returncode == 0


def test_renames_are_unsafe_without_a_pinned_transformers(project):
    path = project("train.py", SCRIPT)
    run_cli("--fix", "--no-cache", cwd=project.root)
    text = path.read_text()
    assert "evaluation_strategy=" in text and "tokenizer=tok" in text  # an older release lacks the new names
    assert 'torch.load("out/pytorch_model.bin", weights_only=True)' in text
    project("requirements.txt", "transformers>=4.30\n")  # processing_class needs 4.46
    path.write_text(SCRIPT)
    run_cli("--fix", "--no-cache", cwd=project.root)
    assert "tokenizer=tok" in path.read_text()


def test_unsafe_fixes(project):
    path = project("train.py", SCRIPT)
    proc = run_cli("--fix", "--unsafe-fixes", "--no-cache", "--format", "json", cwd=project.root)
    text = path.read_text()
    assert 'torch.load("ckpt/optimizer.pt", map_location="cpu", weights_only=True)' in text
    assert 'with torch.amp.autocast("cuda", dtype=torch.bfloat16):' in text
    assert proc.returncode == 0 and codes_of(proc) == []


def test_fix_respects_selection(project):
    path = project("train.py", SCRIPT)
    run_cli("--fix", "--select", "BPL203", "--no-cache", cwd=project.root)
    text = path.read_text()
    assert "weights_only=True" in text and "evaluation_strategy=" in text


def test_weights_only_safety_heuristic(project):
    src = ("import torch\n"
           "a = torch.load(path)\n"
           "model.load_state_dict(torch.load(path))\n"
           "state = torch.load(ckpt)\nmodel.load_state_dict(state)\n"
           "r = torch.load('rng_state.pth')\n"
           "w = torch.load('weights.pt')\n")
    path = project("load.py", src)
    run_cli("--fix", "--no-cache", cwd=project.root)
    lines = path.read_text().splitlines()
    assert lines[1] == "a = torch.load(path)"
    assert lines[2] == "model.load_state_dict(torch.load(path, weights_only=True))"
    assert lines[3] == "state = torch.load(ckpt, weights_only=True)"
    assert lines[5] == "r = torch.load('rng_state.pth')"
    assert lines[6] == "w = torch.load('weights.pt', weights_only=True)"


def _notebook():
    cells = [
        {"cell_type": "markdown", "id": "m1", "metadata": {"tags": ["x"]}, "source": ["# Title é\n"]},
        {"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {"scrolled": True},
         "outputs": [{"name": "stdout", "output_type": "stream", "text": ["ünïcode output\n", "line 2\n"]}],
         "source": ["from transformers import TrainingArguments, Trainer\n",
                    "args = TrainingArguments(\"o\", evaluation_strategy=\"epoch\", bf16=True,\n",
                    "                         load_best_model_at_end=False)  # comment"]},
        {"cell_type": "code", "execution_count": 2, "id": "c2", "metadata": {},
         "outputs": [{"data": {"text/plain": ["3"]}, "execution_count": 2, "metadata": {},
                      "output_type": "execute_result"}],
         "source": ["%matplotlib inline\n",
                    "t = Trainer(model=m, args=args, tokenizer=tok, eval_dataset=e)"]},
    ]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_fix_notebook_keeps_outputs_and_layout(project):
    project("requirements.txt", "transformers==5.24.0\n")
    original = _notebook()
    path = project("nb.ipynb", original)
    diff = run_cli("--diff", "--no-cache", cwd=project.root)
    assert diff.returncode == 1
    assert '+    "t = Trainer(model=m, args=args, processing_class=tok' in diff.stdout
    assert path.read_text(encoding="utf-8") == original
    run_cli("--fix", "--no-cache", cwd=project.root)
    fixed = path.read_text(encoding="utf-8")
    expected = (original.replace('evaluation_strategy=\\"epoch\\"', 'eval_strategy=\\"epoch\\"')
                .replace("tokenizer=tok", "processing_class=tok"))
    assert fixed == expected  # everything else byte for byte: outputs, metadata, layout, newline
    nb = json.loads(fixed)
    assert nb["cells"][2]["source"][0] == "%matplotlib inline\n"
    run_cli("--fix", "--no-cache", cwd=project.root)
    assert path.read_text(encoding="utf-8") == expected


def test_notebook_with_foreign_layout_is_left_alone(project):
    project("requirements.txt", "transformers==5.24.0\n")
    nb = json.loads(_notebook())
    text = json.dumps(nb, indent=3) + "\n\n"
    path = project("nb.ipynb", text)
    proc = run_cli("--fix", "--no-cache", cwd=project.root)
    assert path.read_text() == text
    assert "layout" in proc.stderr


def test_fix_respects_per_file_ignores(project):
    project("requirements.txt", "transformers==5.24.0\n")
    (project.root / "pyproject.toml").write_text(
        '[project]\nname = "d"\nversion = "0"\n[tool.bplint]\n'
        'per-file-ignores = { "legacy_*.py" = ["BPL501"] }\n')
    legacy = project("legacy_train.py", SCRIPT)
    run_cli("--fix", "--no-cache", cwd=project.root)
    text = legacy.read_text()
    assert "evaluation_strategy=" in text and 'torch.load("out/pytorch_model.bin", weights_only=True)' in text
