"""BPL304, BPL407, BPL408, BPL804: quantized task heads, 4-bit training without preparation, LoRA
without task_type, PEFT models saved with torch.save."""

import pytest
from bplint_testutil import codes, lint, notebook

IMPORTS = """
import torch
from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, BitsAndBytesConfig, Trainer
"""


def only(src, code, **options):
    return [c for c in codes(IMPORTS + src, **options) if c == code]


# -- BPL304 quantized task head ----------------------------------------------------------------
@pytest.mark.parametrize("src", [
    'bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")\n'
    'm = AutoModelForSequenceClassification.from_pretrained("org/base", quantization_config=bnb)\n',
    'm = AutoModelForSequenceClassification.from_pretrained(\n'
    '    "org/base", quantization_config=BitsAndBytesConfig(load_in_8bit=True))\n',
    'bnb = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=None)\n'
    'm = BertForTokenClassification.from_pretrained(path, quantization_config=bnb)\n',
    'q = BitsAndBytesConfig(load_in_4bit=True)\nbnb = q\n'
    'm = AutoModelForQuestionAnswering.from_pretrained(path, quantization_config=bnb)\n',
])
def test_quantized_task_head(src):
    assert only(src, "BPL304") == ["BPL304"]


@pytest.mark.parametrize("src", [
    'bnb = BitsAndBytesConfig(load_in_4bit=True, llm_int8_skip_modules=["classifier"])\n'
    'm = AutoModelForSequenceClassification.from_pretrained("org/base", quantization_config=bnb)\n',
    'bnb = BitsAndBytesConfig(load_in_4bit=True)\n'  # a decoder keeps its output layer by default
    'm = AutoModelForCausalLM.from_pretrained("org/base", quantization_config=bnb)\n',
    'bnb = BitsAndBytesConfig(load_in_4bit=True, **options)\n'
    'm = AutoModelForSequenceClassification.from_pretrained("org/base", quantization_config=bnb)\n',
    'bnb = make_config(bits=4)\n'  # built elsewhere: not followed
    'm = AutoModelForSequenceClassification.from_pretrained("org/base", quantization_config=bnb)\n',
    'bnb = BitsAndBytesConfig(load_in_4bit=flag)\n'
    'm = AutoModelForSequenceClassification.from_pretrained("org/base", quantization_config=bnb)\n',
    'm = AutoModelForSequenceClassification.from_pretrained("org/base", quantization_config=bnb)\n'
    'bnb = BitsAndBytesConfig(load_in_4bit=True)\n',  # assigned only after the load
])
def test_quantized_task_head_negatives(src):
    assert only(src, "BPL304") == []


# -- BPL407 k-bit training without preparation -----------------------------------------------
QLORA = """
bnb = BitsAndBytesConfig(load_in_4bit=True, llm_int8_skip_modules=["classifier"])
model = AutoModelForSequenceClassification.from_pretrained("org/base", quantization_config=bnb)
{prepare}model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS"))
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val)
trainer.train()
"""


def test_kbit_training_without_preparation():
    assert only(QLORA.format(prepare=""), "BPL407") == ["BPL407"]
    inline = ('model = get_peft_model(AutoModelForCausalLM.from_pretrained("o/b", quantization_config='
              'BitsAndBytesConfig(load_in_8bit=True)), config)\nloss.backward()\noptimizer.step()\n')
    assert only(inline, "BPL407") == ["BPL407"]


@pytest.mark.parametrize("prepare", [
    "model = prepare_model_for_kbit_training(model)\n",
    "prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)\n",
    "base = prepare_model_for_kbit_training(model)\nmodel = base\n",
])
def test_kbit_training_with_preparation(prepare):
    assert only(QLORA.format(prepare=prepare), "BPL407") == []


def test_kbit_preparation_negatives():
    no_training = QLORA.format(prepare="").replace("trainer.train()\n", "")
    assert only(no_training, "BPL407") == []
    bf16_base = QLORA.format(prepare="").replace("quantization_config=bnb", "dtype=torch.bfloat16")
    assert only(bf16_base, "BPL407") == []
    not_kbit = QLORA.format(prepare="").replace("load_in_4bit=True", "load_in_4bit=False")
    assert only(not_kbit, "BPL407") == []


# -- BPL408 LoRA without task_type -------------------------------------------------------------
HEAD = 'model = AutoModelForSequenceClassification.from_pretrained("org/base", num_labels=5)\n'


@pytest.mark.parametrize("config", [
    "LoraConfig(r=8, lora_alpha=16)",
    'LoraConfig(r=8, target_modules=["query", "value"], task_type=None)',
])
def test_lora_without_task_type(config):
    assert only(HEAD + f"model = get_peft_model(model, {config})\n", "BPL408") == ["BPL408"]


@pytest.mark.parametrize("src", [
    HEAD + 'model = get_peft_model(model, LoraConfig(r=8, task_type="SEQ_CLS"))\n',
    HEAD + "model = get_peft_model(model, LoraConfig(r=8, task_type=TaskType.SEQ_CLS))\n",
    HEAD + 'model = get_peft_model(model, LoraConfig(r=8, modules_to_save=["classifier"]))\n',
    HEAD + "model = get_peft_model(model, LoraConfig(r=8, **settings))\n",
    # a causal LM has no new head: its output layer comes with the checkpoint
    'model = AutoModelForCausalLM.from_pretrained("org/base")\n'
    "model = get_peft_model(model, LoraConfig(r=8))\n",
])
def test_lora_without_task_type_negatives(src):
    assert only(src, "BPL408") == []


# -- BPL804 PEFT model saved with torch.save ---------------------------------------------------
@pytest.mark.parametrize("save", [
    'torch.save(peft.state_dict(), "adapter.pt")',
    'torch.save(peft, "adapter.pt")',
])
@pytest.mark.parametrize("build", [
    "peft = get_peft_model(base, LoraConfig(task_type='SEQ_CLS'))",
    'peft = PeftModel.from_pretrained(base, "adapter")',
    'peft = AutoPeftModelForCausalLM.from_pretrained("adapter")',
])
def test_peft_model_torch_save(build, save):
    assert only(f"{build}\n{save}\n", "BPL804") == ["BPL804"]


@pytest.mark.parametrize("src", [
    "peft = get_peft_model(base, config)\npeft.save_pretrained('adapter')\n",
    "peft = get_peft_model(base, config)\nmerged = peft.merge_and_unload()\n"
    "torch.save(merged.state_dict(), 'm.pt')\n",
    "peft = get_peft_model(base, config)\ntorch.save(get_peft_model_state_dict(peft), 'a.pt')\n",
    "torch.save(base.state_dict(), 'm.pt')\npeft = get_peft_model(base, config)\n",
])
def test_peft_model_torch_save_negatives(src):
    assert only(src, "BPL804") == []


def test_bindings_follow_notebook_cells_in_order():
    cells = notebook(
        IMPORTS,
        'bnb = BitsAndBytesConfig(load_in_4bit=True)\n',
        'm = AutoModelForSequenceClassification.from_pretrained("o/b", quantization_config=bnb)\n',
        'bnb = BitsAndBytesConfig(load_in_4bit=True, llm_int8_skip_modules=["classifier"])\n',
        'm = AutoModelForSequenceClassification.from_pretrained("o/b", quantization_config=bnb)\n',
    )
    found = [(f.code, f.cell) for f in lint(cells, "notebook", path="nb.ipynb") if f.code == "BPL304"]
    assert found == [("BPL304", 3)]
