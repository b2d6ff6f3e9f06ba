"""BPL3xx: mixed precision."""

import functools

import bplint_testutil
import pytest

codes = functools.partial(bplint_testutil.codes, families=bplint_testutil.CORE)
lint = functools.partial(bplint_testutil.lint, families=bplint_testutil.CORE)


@pytest.mark.parametrize("src", [
    'from transformers import TrainingArguments\nTrainingArguments(output_dir="o")',
    'import transformers as tf\ntf.Seq2SeqTrainingArguments("o", num_train_epochs=1)',
    'from transformers import TrainingArguments as TA\nTA("o", use_cpu=False)',
])
def test_training_args_without_precision(src):
    assert codes(src) == ["BPL301"]


@pytest.mark.parametrize("src", [
    'TrainingArguments("o", bf16=True)',
    'TrainingArguments("o", fp16=False)',
    'TrainingArguments("o", bf16=use_bf16)',
    'TrainingArguments("o", use_cpu=True)',
    'TrainingArguments("o", use_cpu=not cuda)',
    'TrainingArguments("o", **cfg)',
    'args = TrainingArguments("o")\nargs.bf16 = True',
])
def test_training_args_negatives(src):
    assert codes(src) == []


def test_trl_configs_default_to_bf16_from_0_19():
    src = 'from trl import SFTConfig\nSFTConfig(output_dir="o")'
    assert codes(src) == []  # any recent TRL: bf16=True unless fp16
    assert codes(src, pins={"trl": "==0.12.0"}) == ["BPL301"]
    assert codes(src, pins={"trl": ">=0.19"}) == []


@pytest.mark.parametrize("src", [
    'from setfit import TrainingArguments\nTrainingArguments(output_dir="o")',  # no precision fields
    'from transformers import TFTrainingArguments, TrainingArguments\nimport tensorflow as tf\n'
    'TrainingArguments("o")',
    'from transformers import AutoModel, TrainingArguments\nimport torch\n'
    'm = AutoModel.from_pretrained(path, dtype=torch.bfloat16)\nTrainingArguments("o")',
    'from transformers import AutoModel, BitsAndBytesConfig, TrainingArguments\n'
    'm = AutoModel.from_pretrained(path, quantization_config=BitsAndBytesConfig(load_in_4bit=True))\n'
    'TrainingArguments("o")',
    'from transformers import TrainingArguments\nTrainingArguments("o", **{"bf16": True})',
])
def test_training_args_other_libraries_and_reduced_precision_models(src):
    assert codes(src) == [], src


def test_cpu_only_option():
    assert codes('TrainingArguments("o")', cpu_only=True) == []
    assert codes("from accelerate import Accelerator\nAccelerator()", cpu_only=True) == []


def test_accelerator():
    train = "\nmodel, optimizer = acc.prepare(model, optimizer)\n"
    assert codes("from accelerate import Accelerator\nacc = Accelerator()" + train) == ["BPL302"]
    grad = "import accelerate\nacc = accelerate.Accelerator(gradient_accumulation_steps=2)"
    assert codes(grad + train) == ["BPL302"]
    head = "from accelerate import Accelerator\n"
    assert codes(head + "acc = Accelerator(mixed_precision='bf16')" + train) == []
    assert codes(head + "acc = Accelerator(mixed_precision=mp)" + train) == []
    assert codes("from accelerate import Accelerator\nacc = Accelerator(**kw)" + train) == []
    assert codes("from accelerate import Accelerator\nacc = Accelerator(cpu=True)" + train) == []
    assert codes("from mylib import Accelerator\nacc = Accelerator()" + train) == []
    # asking for the device, or never training through it: precision does not matter
    assert codes("from accelerate import Accelerator\ndevice = Accelerator().device" + train) == []
    assert codes("from accelerate import Accelerator\nacc = Accelerator()\n") == []
    # preparing models alone loads checkpoints or runs embedders; backward or accumulate trains
    assert codes(head + "acc = Accelerator()\nunet, enc = acc.prepare(unet, enc)\n") == []
    assert codes(head + "acc = Accelerator()\nmodel = acc.prepare(model)\nacc.backward(loss)\n") == ["BPL302"]
    assert codes(head + "acc = Accelerator()\nwith acc.accumulate(model):\n    pass\n") == ["BPL302"]


LOOP = """
import torch
torch.manual_seed(0)
model.to("cuda")
for batch in loader:
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
"""


def test_gpu_loop_without_autocast():
    found = lint(LOOP)
    assert [f.code for f in found] == ["BPL303"]
    assert found[0].line == 7


@pytest.mark.parametrize("gpu", ['model.cuda()', 'device = torch.device("cuda" if ok else "cpu")',
                                 'x = torch.zeros(2, device="cuda:0")'])
def test_gpu_detection_variants(gpu):
    src = LOOP.replace('model.to("cuda")', gpu)
    assert codes(src) == ["BPL303"]


@pytest.mark.parametrize("fix", [
    '    with torch.autocast("cuda", dtype=torch.bfloat16):\n        pass\n',
    '    with torch.amp.autocast("cuda"):\n        pass\n',
    'scaler = torch.amp.GradScaler()\n',
    'model = model.to("cuda", dtype=torch.bfloat16)\n',
    'model.half()\n',
])
def test_gpu_loop_negatives(fix):
    loop = "for batch in loader:\n"
    src = LOOP.replace(loop, loop + fix if fix.startswith(" ") else fix + loop)
    assert codes(src) == [], src


def test_cpu_loop_and_cpu_only():
    assert codes(LOOP.replace('model.to("cuda")', 'model.to("cpu")')) == []
    assert codes(LOOP, cpu_only=True) == []
