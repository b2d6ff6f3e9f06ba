"""BPL2xx: untrusted model sources."""

import functools

import bplint_testutil
import pytest

codes = functools.partial(bplint_testutil.codes, families=bplint_testutil.CORE)
lint = functools.partial(bplint_testutil.lint, families=bplint_testutil.CORE)

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("src", [
    'AutoModel.from_pretrained("org/model", trust_remote_code=True, revision="main")',
    'pipeline("text-generation", model=p, trust_remote_code=True)',
    'load_dataset(p, trust_remote_code=True)',
    'TRUST = True\nAutoConfig.from_pretrained(p, trust_remote_code=TRUST)',
])
def test_trust_remote_code(src):
    assert "BPL201" in codes(src)


def test_trust_remote_code_pinned_or_false_is_clean():
    assert codes(f'AutoModel.from_pretrained("org/m", trust_remote_code=True, revision="{SHA}")') == []
    assert codes("AutoModel.from_pretrained(p, trust_remote_code=False)") == []
    assert codes("AutoModel.from_pretrained(p, trust_remote_code=flag)") == []


@pytest.mark.parametrize("src", [
    'from transformers import AutoModel\nAutoModel.from_pretrained("bert-base-uncased")',
    'AutoTokenizer.from_pretrained("org/name", revision="main")',
    'AutoModel.from_pretrained("org/name", revision="v1.0")',
    'AutoModel.from_pretrained("org/name", revision="0123abc")',
    'AutoModel.from_pretrained("org/name", revision=None)',
    'MODEL = "org/name"\nAutoModel.from_pretrained(MODEL)',
    'MODEL = "org/name"\nREV = "main"\nAutoModel.from_pretrained(MODEL, revision=REV)',
    'import transformers as tf\ntf.AutoModel.from_pretrained(pretrained_model_name_or_path="gpt2")',
    'from huggingface_hub import hf_hub_download\nhf_hub_download("org/name", "config.json")',
    'snapshot_download(repo_id="org/name")',
    'from transformers import pipeline\npipeline("text-classification", model="distilbert/distilbert-base")',
    'from transformers import pipeline\npipeline("sentiment-analysis")',
    'from datasets import load_dataset\nload_dataset("imdb")',
    'load_dataset("glue", "mrpc", revision="main")',
    'PeftModel.from_pretrained(base, "org/adapter")',
    'SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2")',
])
def test_unpinned_revision(src):
    assert codes(src) == ["BPL202"], src


@pytest.mark.parametrize("src", [
    f'AutoModel.from_pretrained("bert-base-uncased", revision="{SHA}")',
    f'REV = "{SHA}"\nAutoModel.from_pretrained("org/name", revision=REV)',
    'AutoModel.from_pretrained("org/name", revision=rev)',  # from a variable: cannot know
    'AutoModel.from_pretrained("org/name", revision=cfg["rev"])',
    'AutoModel.from_pretrained("org/name", **kwargs)',  # kwargs may supply revision
    'AutoModel.from_pretrained(model_dir)',
    'AutoModel.from_pretrained("./checkpoints/best")',
    'AutoModel.from_pretrained("/abs/path/model")',
    'AutoModel.from_pretrained("~/models/bert")',
    'AutoModel.from_pretrained("../model")',
    'AutoModel.from_pretrained("runs/exp1/checkpoint-500")',
    'AutoModel.from_pretrained("C:\\\\models\\\\bert")',
    'AutoModel.from_pretrained("model.bin")',
    'AutoModel.from_pretrained(Path("models") / "bert")',
    'AutoModel.from_pretrained(os.path.join(root, "bert"))',
    'AutoModel.from_pretrained(f"{root}/bert")',
    'load_dataset("csv", data_files="train.csv")',
    'load_dataset("json", data_files=files)',
    'pipeline("text-classification", model=model, tokenizer=tok)',
    'pipeline(task, **cfg)',
    'from torch.distributed.pipelining import pipeline\npipeline(model, mb_args=(x,))',
    'model.save_pretrained("my-model")\nAutoModel.from_pretrained("my-model")',
    'TrainingArguments(output_dir="out")\nAutoModel.from_pretrained("out")',
    'D = "models/bert"\nif os.path.isdir(D):\n    AutoModel.from_pretrained(D)',
    'D = "models/bert"\nroot = Path(D)\nAutoModel.from_pretrained(D)',
    'tokenizer.from_pretrained',
])
def test_revision_negatives(src):
    assert "BPL202" not in codes(src), src


def test_revision_finding_points_at_the_id():
    (f,) = lint('m = AutoModel.from_pretrained(\n    "org/name",\n)\n')
    assert (f.code, f.line, f.col) == ("BPL202", 2, 4)


@pytest.mark.parametrize("src", [
    'import torch\ntorch.load("x.pt")',
    'import torch as th\nth.load(path)',
    'from torch import load\nload(path, map_location="cpu")',
    'import torch\ntorch.load(path, weights_only=False)',
])
def test_unsafe_torch_load(src):
    assert codes(src) == ["BPL203"]


def test_torch_load_negatives():
    assert codes("import torch\ntorch.load(p, weights_only=True)") == []
    assert codes("import torch\ntorch.load(p, **kw)") == []
    assert codes("import torch\ntorch.load(p, weights_only=flag)") == []
    assert codes("import numpy as np\nnp.load(p)") == []
    assert codes("json.load(fh)") == []


@pytest.mark.parametrize("src", [
    "import pickle\npickle.load(fh)", "import pickle as pk\npk.loads(b)", "from pickle import load\nload(fh)",
    "import dill\ndill.load(fh)", "import joblib\njoblib.load('m.joblib')",
    "import cloudpickle\ncloudpickle.loads(b)",
    "import pandas as pd\npd.read_pickle('x.pkl')",
])
def test_pickle_loads(src):
    assert codes(src) == ["BPL204"]


def test_pickle_dump_is_fine():
    assert codes("import pickle\npickle.dump(obj, fh)") == []


def test_safetensors_disabled():
    assert codes('model.save_pretrained("out", safe_serialization=False)') == ["BPL205"]
    assert codes("AutoModel.from_pretrained(p, use_safetensors=False)") == ["BPL205"]
    assert codes("AutoModel.from_pretrained(p, use_safetensors=True)") == []


@pytest.mark.parametrize("src", [
    'import torch\ntorch.hub.load_state_dict_from_url("https://example.com/w.pth")',
    'from torch.hub import load_state_dict_from_url as get\nget(url)',
    'import torch\ntorch.hub.load("pytorch/vision", "resnet18")',
    'AutoModel.from_pretrained("https://example.com/model")',
])
def test_weights_from_url(src):
    assert codes(src) == ["BPL206"]


def test_weights_from_url_negatives():
    assert codes("import torch\ntorch.hub.load_state_dict_from_url(url, check_hash=True)") == []
    assert codes('import torch\ntorch.hub.load("./repo", "m", source="local")') == []


def test_pickle_round_trip_is_not_a_load():
    assert codes("import pickle\ncopy = pickle.loads(pickle.dumps(obj))") == []
    assert codes("import pickle\ndata = pickle.dumps(obj)\ncopy = pickle.loads(data)") == []
    assert codes("import pickle\ncopy = pickle.loads(blob)") == ["BPL204"]
