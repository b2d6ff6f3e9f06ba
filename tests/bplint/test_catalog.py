"""BPL4xx-BPL8xx: training setup, API migrations, inference and loops, data loading, hygiene."""

import json

import pytest
from bplint_testutil import codes, lint, notebook, run_cli

TRAIN = """
from transformers import Trainer, TrainingArguments
args = TrainingArguments("o", bf16=True, eval_strategy="epoch", load_best_model_at_end=False)
trainer = Trainer(model=model, args=args, train_dataset=tr, eval_dataset=ev)
trainer.train()
"""


def only(src, code, **options):
    return [c for c in codes(src, **options) if c == code]


# -- BPL401 static padding --------------------------------------------------------------------
def test_static_padding():
    src = ('ds = ds.map(lambda b: tokenizer(b["text"], truncation=True, padding="max_length"))\n'
           "trainer = Trainer(model=m, args=a, train_dataset=ds)\n")
    assert only(src, "BPL401") == ["BPL401"]
    collator = 'enc = tok(texts, padding="max_length")\ncollate = DataCollatorForLanguageModeling(tok)\n'
    assert only(collator, "BPL401") == ["BPL401"]


@pytest.mark.parametrize("src", [
    'ds = ds.map(lambda b: tokenizer(b["text"], padding="max_length"))\n',  # nothing collates later
    'x = tokenizer(t, padding="max_length", return_tensors="pt")\nTrainer(model=m)\n',  # feeds the model
    'cfg = dict(padding="max_length")\nTrainer(model=m)\n',  # not a tokenizer
    'x = tokenizer(t, padding=True)\nTrainer(model=m)\n',
])
def test_static_padding_negatives(src):
    assert only(src, "BPL401") == []


# -- BPL402 strategy mismatch -----------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    'eval_strategy="epoch", save_strategy="steps"',
    'eval_strategy="epoch"',  # save_strategy defaults to "steps"
    'save_strategy="epoch"',  # eval_strategy defaults to "no"
    'eval_strategy="steps", save_strategy="steps", eval_steps=300, save_steps=500',
    'eval_strategy="steps", eval_steps=300',  # save_steps defaults to 500
])
def test_strategy_mismatch(kwargs):
    src = f'TrainingArguments("o", bf16=True, load_best_model_at_end=True, {kwargs})'
    assert only(src, "BPL402") == ["BPL402"]


@pytest.mark.parametrize("kwargs", [
    'eval_strategy="epoch", save_strategy="epoch"',
    'eval_strategy="epoch", save_strategy="best"',
    'eval_strategy="steps", save_strategy="steps", eval_steps=250, save_steps=500',
    'eval_strategy="steps", eval_steps=0.1, save_steps=0.2',
    'eval_strategy=strategy, save_strategy="epoch"',
    'eval_strategy="epoch", **extra',
])
def test_strategy_mismatch_negatives(kwargs):
    src = f'TrainingArguments("o", bf16=True, load_best_model_at_end=True, {kwargs})'
    assert only(src, "BPL402") == []
    assert only('TrainingArguments("o", eval_strategy="epoch", save_strategy="steps")', "BPL402") == []


# -- BPL403 / BPL404 --------------------------------------------------------------------------
def test_fp16_and_bf16():
    assert only('TrainingArguments("o", fp16=True, bf16=True)', "BPL403") == ["BPL403"]
    assert only('TrainingArguments("o", fp16=False, bf16=True)', "BPL403") == []
    assert only('TrainingArguments("o", fp16=not ok, bf16=ok)', "BPL403") == []


def test_checkpointing_with_cache():
    src = 'm = AutoModelForCausalLM.from_pretrained(p, use_cache=True)\nm.gradient_checkpointing_enable()\n'
    assert only(src, "BPL404") == ["BPL404"]
    src2 = 'TrainingArguments("o", gradient_checkpointing=True)\nmodel.config.use_cache = True\n'
    assert only(src2, "BPL404") == ["BPL404"]
    assert only(src.replace("use_cache=True", "use_cache=False"), "BPL404") == []
    assert only('m = M.from_pretrained(p, use_cache=True)\nm.generate(x)\n', "BPL404") == []
    forward = "m.gradient_checkpointing_enable()\nout = m(input_ids=x, use_cache=True)\n"
    assert only(forward, "BPL404") == []  # a forward pass that uses the cache on purpose


# -- BPL405 / BPL406 --------------------------------------------------------------------------
def test_training_without_evaluation():
    src = TRAIN.replace(", eval_dataset=ev", "")
    assert only(src, "BPL405") == ["BPL405"]
    never = TRAIN.replace('eval_strategy="epoch", ', "")
    assert only(never, "BPL405") == ["BPL405"]
    assert only(TRAIN, "BPL405") == []
    assert only(src + "trainer.evaluate(ev)\n", "BPL405") == []
    assert only(src.replace("trainer.train()", ""), "BPL405") == []  # never trained here
    assert only(src.replace("train_dataset=tr", "**kw"), "BPL405") == []
    own = "class Trainer:\n    def train(self):\n        pass\n\ntrainer = Trainer(rref)\ntrainer.train()\n"
    assert only(own, "BPL405") == []
    sub = "class MyTrainer(Trainer):\n    pass\n" + src.replace("trainer = Trainer(", "trainer = MyTrainer(")
    assert only(sub, "BPL405") == ["BPL405"]
    in_test = "def test_runs():\n" + "".join("    " + line + "\n" for line in src.strip().splitlines())
    assert only(in_test, "BPL405") == []


def test_evaluation_without_selection():
    src = TRAIN.replace(", load_best_model_at_end=False", "")
    assert only(src, "BPL406") == ["BPL406"]
    assert only(TRAIN, "BPL406") == []
    assert only(src + "cb = EarlyStoppingCallback(early_stopping_patience=2)\n", "BPL406") == []
    assert only(src.replace('eval_strategy="epoch"', 'eval_strategy="no"'), "BPL406") == []


# -- BPL409 determinism (opt-in) --------------------------------------------------------------
def test_determinism_opt_in(project):
    project("train.py", "from transformers import set_seed\nset_seed(0)\n" + TRAIN)
    root = project.root
    plain = run_cli("--no-cache", "--format", "json", "--select", "BPL4", cwd=root)
    assert "BPL409" not in plain.stdout
    selected = run_cli("--no-cache", "--format", "json", "--select", "BPL409", cwd=root)
    assert [d["code"] for d in json.loads(selected.stdout)] == ["BPL409"]
    (root / "pyproject.toml").write_text(
        '[project]\nname = "d"\nversion = "0"\n[tool.bplint]\ndeterministic = true\n')
    configured = run_cli("--no-cache", "--format", "json", cwd=root)
    assert "BPL409" in [d["code"] for d in json.loads(configured.stdout)]
    seeded = "from transformers import enable_full_determinism\nenable_full_determinism(0)\n"
    project("train.py", seeded + TRAIN)
    assert "BPL409" not in run_cli("--no-cache", "--format", "json", cwd=root).stdout
    parsed = ("from transformers import HfArgumentParser\n"
              "args, = HfArgumentParser(TA).parse_args_into_dataclasses()\n")
    project("train.py", parsed + TRAIN)
    assert "BPL409" not in run_cli("--no-cache", "--format", "json", "--select", "BPL409", cwd=root).stdout


# -- BPL501 / BPL502 / BPL503 -----------------------------------------------------------------
@pytest.mark.parametrize("src", [
    'TrainingArguments("o", evaluation_strategy="epoch")',
    'TrainingArguments("o", no_cuda=True)',
    'TrainingArguments("o", group_by_length=True)',
    'TrainingArguments("o", warmup_ratio=0.1)',
    'TrainingArguments("o", overwrite_output_dir=True)',
    'Trainer(model=m, tokenizer=tok)',
    'AutoModel.from_pretrained("x", use_auth_token=True)',
    'AutoModel.from_pretrained("x", torch_dtype=torch.bfloat16)',
    'AutoModelForCausalLM.from_pretrained("x", load_in_8bit=True)',
    'pipeline("text-generation", model="x", torch_dtype="auto")',
])
def test_removed_arguments(src):
    assert only(src, "BPL501") == ["BPL501"]


def test_removed_arguments_version_aware():
    src = 'TrainingArguments("o", evaluation_strategy="epoch")'
    assert only(src, "BPL501", pins={"transformers": "==4.46.0"}) == []
    assert only(src, "BPL501", pins={"transformers": "==5.24.0"}) == ["BPL501"]
    assert only('my_function(tokenizer=tok, torch_dtype=x)', "BPL501") == []


def test_version_from_project_requirements(project):
    project("train.py", 'from transformers import TrainingArguments\nTrainingArguments("o", no_cuda=True)\n')
    project("requirements.txt", "transformers<5\n")
    assert run_cli("--no-cache", "--select", "BPL501", cwd=project.root).returncode == 0
    project("requirements.txt", "transformers==5.24.0\n")
    assert run_cli("--no-cache", "--select", "BPL501", cwd=project.root).returncode == 1
    project("requirements.txt", "transformers>=4.40,<5.0\n")
    assert run_cli("--no-cache", "--select", "BPL501", cwd=project.root).returncode == 0
    project("requirements.txt", "transformers>=4.40\n")  # no upper bound: 5 is allowed
    assert run_cli("--no-cache", "--select", "BPL501", cwd=project.root).returncode == 1


def test_load_metric():
    assert only('from datasets import load_metric\nm = load_metric("accuracy")', "BPL502") == ["BPL502"]
    assert only('import datasets\nm = datasets.load_metric("accuracy")', "BPL502") == ["BPL502"]
    assert only('import evaluate\nm = evaluate.load("accuracy")', "BPL502") == []
    assert only('import datasets\ndatasets.load_metric("a")', "BPL502", pins={"datasets": "<3"}) == []


def test_deprecated_cuda_amp():
    assert only("import torch\nwith torch.cuda.amp.autocast():\n    pass", "BPL503") == ["BPL503"]
    assert only("from torch.cuda.amp import GradScaler\ns = GradScaler()", "BPL503") == ["BPL503"]
    assert only('import torch\nwith torch.amp.autocast("cuda"):\n    pass', "BPL503") == []
    assert only('import torch\ns = torch.amp.GradScaler("cuda")', "BPL503") == []


# -- BPL601 / BPL602 / BPL603 -----------------------------------------------------------------
PREDICT = """
import torch
def predict(texts):
    logits = model(**tok(texts, return_tensors="pt")).logits
    return logits.argmax(-1)
"""


def test_inference_without_no_grad():
    assert only(PREDICT, "BPL601") == ["BPL601"]
    assert only(PREDICT.replace("def predict", "@torch.inference_mode()\ndef predict"), "BPL601") == []
    guarded = PREDICT.replace("    logits =", "    with torch.no_grad():\n        logits =")
    assert only(guarded, "BPL601") == []
    training = PREDICT.replace("    return", "    loss.backward()\n    return")
    assert only(training, "BPL601") == []
    assert only(PREDICT.replace("logits.argmax(-1)", "logits"), "BPL601") == []  # no prediction
    assert [f.code for f in lint(PREDICT, path="tests/test_predict.py") if f.code == "BPL601"] == []
    built = "def f(x):\n    m = get_peft_model(base, cfg).eval()\n    return m(x).logits.argmax(-1)\n"
    assert only(built, "BPL601") == ["BPL601"]  # reported at the forward call, not at get_peft_model()
    assert [f.line for f in lint(built) if f.code == "BPL601"] == [3]
    assert only("def f(x):\n    out = model.generate(x)\n    return tok.decode(out[0])", "BPL601") == []


def test_generate_in_train_mode():
    src = "model.train()\nfor b in dl:\n    pass\nout = model.generate(**p)\n"
    assert only(src, "BPL602") == ["BPL602"]
    assert only(src.replace("out =", "model.eval()\nout ="), "BPL602") == []
    assert only("model.eval()\nout = model.generate(**p)\n", "BPL602") == []
    assert only("def f():\n    model.train()\ndef g():\n    model.generate(x)\n", "BPL602") == []


LOOP = """
for batch in loader:
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
"""


def test_missing_zero_grad():
    found = [f for f in lint(LOOP) if f.code == "BPL603"]
    assert len(found) == 1 and found[0].line == 5
    assert only(LOOP + "    optimizer.zero_grad()\n", "BPL603") == []
    assert only(LOOP + "    model.zero_grad(set_to_none=True)\n", "BPL603") == []
    assert only(LOOP + "    for p in params:\n        p.grad = None\n", "BPL603") == []
    one_step = "loss = model(**batch).loss\nloss.backward()\noptimizer.step()\n"
    assert only(one_step, "BPL603") == []


# -- BPL701 / BPL702 --------------------------------------------------------------------------
def test_shuffle_without_generator():
    base = ("from torch.utils.data import DataLoader\n"
            "DataLoader(ds, batch_size=8, shuffle=True, num_workers=4{})")
    assert only(base.format(""), "BPL701") == ["BPL701"]
    assert only(base.format(", generator=g"), "BPL701") == []
    assert only(base.format(", worker_init_fn=seed_worker"), "BPL701") == []
    assert only(base.format(", **kw"), "BPL701") == []
    assert only(base.format("").replace("num_workers=4", "num_workers=0"), "BPL701") == []
    assert only(base.format("").replace("shuffle=True", "shuffle=False"), "BPL701") == []


def test_dataloader_without_workers_is_opt_in(project):
    project("train.py", """\
        import torch
        from torch.utils.data import DataLoader
        model.cuda()
        loader = DataLoader(ds, batch_size=8)
        for batch in loader:
            model(batch).sum().backward()
            optimizer.step()
        """)
    root = project.root
    assert "BPL702" not in run_cli("--no-cache", cwd=root).stdout
    proc = run_cli("--no-cache", "--format", "json", "--select", "BPL702", cwd=root)
    assert [d["code"] for d in json.loads(proc.stdout)] == ["BPL702"]
    src = ("from torch.utils.data import DataLoader\nmodel.cuda()\nDataLoader(ds, num_workers={})\n"
           "loss.backward()\noptimizer.step()\n")
    assert only(src.format(0).replace("loss.backward()", ""), "BPL702") == []  # no training here
    assert only(src.format(0), "BPL702") == ["BPL702"]
    assert only(src.format(4), "BPL702") == []
    assert only(src.format(0).replace("model.cuda()", "model.cpu()"), "BPL702") == []


def test_shuffle_with_accelerate_is_not_reported():
    src = ("from accelerate import Accelerator\nfrom torch.utils.data import DataLoader\n"
           "acc = Accelerator()\ndl = acc.prepare(DataLoader(ds, shuffle=True, num_workers=2))\n")
    assert only(src, "BPL701") == []


# -- BPL801 / BPL802 / BPL803 -----------------------------------------------------------------
TOKEN = "hf_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z"


@pytest.mark.parametrize("src", [
    f'login(token="{TOKEN}")',
    f'AutoModel.from_pretrained("x", token="{TOKEN}")',
    f'os.environ["HF_TOKEN"] = "{TOKEN}"',
])
def test_hardcoded_token(src):
    assert only(src, "BPL801") == ["BPL801"]


def test_hardcoded_token_negatives():
    assert only('login(token=os.environ["HF_TOKEN"])', "BPL801") == []
    assert only('t = "hf_short"', "BPL801") == []
    assert only('name = "hf_' + "x" * 40 + '_suffix_with_underscores"', "BPL801") == ["BPL801"]


def test_token_in_notebook_output():
    nb = json.loads(notebook("print(1)", "x = 2"))
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [f"HF_TOKEN={TOKEN}\n"]}]
    found = lint(json.dumps(nb), kind="notebook", path="n.ipynb")
    assert [(f.code, f.cell) for f in found] == [("BPL801", 2)]


def test_torch_save_whole_model():
    assert only('import torch\ntorch.save(model, "m.pt")', "BPL802") == ["BPL802"]
    assert only('import torch\ntorch.save(self.model, "m.pt")', "BPL802") == ["BPL802"]
    assert only('import torch\ntorch.save(accelerator.unwrap_model(model), "m.pt")', "BPL802") == ["BPL802"]
    assert only('import torch\ntorch.save(model.state_dict(), "m.pt")', "BPL802") == []
    assert only('import torch\ntorch.save(optimizer.state_dict(), "o.pt")', "BPL802") == []


def test_notebook_out_of_order():
    nb = json.loads(notebook("a = 1", ("markdown", "# t"), "b = 2", "c = 3"))
    for cell, n in ((0, 3), (2, 1), (3, 2)):
        nb["cells"][cell]["execution_count"] = n
    found = [f for f in lint(json.dumps(nb), kind="notebook", path="n.ipynb") if f.code == "BPL803"]
    assert [(f.cell, f.line) for f in found] == [(3, 1)]
    for cell, n in ((0, 1), (2, None), (3, 5)):
        nb["cells"][cell]["execution_count"] = n
    assert [f.code for f in lint(json.dumps(nb), kind="notebook", path="n.ipynb")] == []
