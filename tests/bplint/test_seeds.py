"""BPL001 training-without-seed and BPL002 seed-after-model-init."""

import functools
import textwrap

import bplint_testutil
from bplint_testutil import notebook

codes = functools.partial(bplint_testutil.codes, families=bplint_testutil.CORE)
lint = functools.partial(bplint_testutil.lint, families=bplint_testutil.CORE)

TRAINER_NO_SEED = """
from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
args = TrainingArguments(output_dir="out", bf16=True)
trainer = Trainer(model=model, args=args, train_dataset=ds)
trainer.train()
"""


def test_trainer_without_seed_is_reported_at_train_call():
    (f,) = [f for f in lint(TRAINER_NO_SEED) if f.code.startswith("BPL0")]
    assert f.code == "BPL001"
    assert (f.line, f.col) == (6, 0)
    assert "set_seed" in f.message


def test_seed_before_model_is_clean():
    seed = "from transformers import set_seed\nset_seed(0)\n"
    src = TRAINER_NO_SEED.replace("model = Auto", seed + "model = Auto")
    assert codes(src) == []


def test_seed_after_model_is_reported():
    src = TRAINER_NO_SEED.replace("args = Train", "set_seed(0)\nargs = Train")
    found = lint(src)
    assert [f.code for f in found] == ["BPL002"]
    assert found[0].line == 4 and "line 3" in found[0].message


def test_seed_after_model_with_model_init_is_clean():
    src = """
    from transformers import AutoModelForSequenceClassification, Trainer, set_seed
    def model_init():
        return AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    model = AutoModelForSequenceClassification.from_pretrained(path)
    set_seed(0)
    Trainer(model_init=model_init, args=args).train()
    """
    assert codes(src) == []


def test_direct_trainer_call_and_subclass_and_sfttrainer():
    # the trainers seed in their constructor: only a model with new random weights built before counts
    head = "from transformers import AutoModelForSequenceClassification as M\nm = M.from_pretrained(p)\n"
    assert codes("from trl import SFTTrainer\nSFTTrainer(model=m).train()\n") == []
    assert codes(head + "from trl import SFTTrainer\nSFTTrainer(model=m).train()\n") == ["BPL001"]
    src = """
    from transformers import Trainer
    class MyT(Trainer):
        pass
    t = MyT(model=m)
    t.train()
    """
    assert codes(src) == []
    assert codes(head + textwrap.dedent(src)) == ["BPL001"]


def test_model_train_mode_is_not_training():
    assert codes("model.train()\nmodel.eval()\n") == []
    # a name not bound to a Trainer constructor
    assert codes("def f(trainer):\n    trainer.train()\n") == []


def test_hand_loop_and_accelerate_and_lightning():
    loop = "for b in dl:\n    loss = model(b)\n    loss.backward()\n    optimizer.step()\n"
    assert codes(loop) == ["BPL001"]
    acc = "for b in dl:\n    accelerator.backward(loss)\n    opt.step()\n"
    assert codes(acc) == ["BPL001"]
    lt = "import lightning as L\ntrainer = L.Trainer(max_epochs=1)\ntrainer.fit(model)\n"
    assert codes(lt) == ["BPL001"]
    assert codes("import lightning as L\nL.seed_everything(1)\n" + lt.split("\n", 1)[1]) == []
    # backward alone (e.g. saliency maps) is not training
    assert codes("out.sum().backward()\n") == []


def test_seed_variants_count():
    loop = "loss.backward()\noptimizer.step()\n"
    for seed in ("import torch\ntorch.manual_seed(0)\n", "import torch as th\nth.cuda.manual_seed_all(0)\n",
                 "from accelerate.utils import set_seed\nset_seed(1)\n",
                 "from transformers import enable_full_determinism\nenable_full_determinism(0)\n",
                 "import pytorch_lightning as pl\npl.seed_everything(3)\n"):
        assert codes(seed + loop) == [], seed


def test_python_and_numpy_seeds_do_not_seed_torch():
    src = ("import random\nimport numpy as np\nrandom.seed(0)\nnp.random.seed(0)\n"
           "loss.backward()\noptimizer.step()\n")
    assert codes(src) == ["BPL001"]


def test_events_in_different_functions_are_not_compared():
    src = """
    from transformers import AutoModelForSequenceClassification, Trainer, set_seed
    def build():
        return AutoModelForSequenceClassification.from_pretrained(path)
    def main():
        set_seed(0)
        trainer = Trainer(model=build(), args=args)
        trainer.train()
    """
    assert codes(src) == []


def test_seed_after_model_in_same_function_is_reported():
    src = """
    from transformers import AutoModelForSequenceClassification, Trainer, set_seed
    def main():
        model = AutoModelForSequenceClassification.from_pretrained(path)
        set_seed(0)
        trainer = Trainer(model=model, args=args)
        trainer.train()
    """
    assert codes(src) == ["BPL002"]


def test_nn_module_constructor_counts_as_model():
    src = """
    import torch
    from torch import nn
    class Net(nn.Module):
        pass
    net = Net()
    torch.manual_seed(0)
    loss.backward()
    optimizer.step()
    """
    assert codes(src) == ["BPL002"]
    src2 = ("import torch\nlayer = torch.nn.Linear(2, 2)\ntorch.manual_seed(0)\n"
            "loss.backward()\noptimizer.step()\n")
    assert codes(src2) == ["BPL002"]


def test_non_model_from_config_is_not_a_model():
    src = "fmt = Formatter.from_config(c)\nset_seed(0)\nloss.backward()\noptimizer.step()\n"
    assert codes(src) == []


def test_tokenizer_before_seed_is_fine():
    src = """
    from transformers import AutoTokenizer, AutoModelForSequenceClassification, Trainer, set_seed
    tok = AutoTokenizer.from_pretrained(path)
    set_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path)
    Trainer(model=model, args=args).train()
    """
    assert codes(src) == []


def test_notebook_cell_order():
    nb = notebook(
        "from transformers import AutoModelForSequenceClassification, Trainer, set_seed\n",
        "model = AutoModelForSequenceClassification.from_pretrained(path)\n",
        "set_seed(42)\n",
        "trainer = Trainer(model=model, args=args)\ntrainer.train()\n",
    )
    found = lint(nb, "notebook", path="nb.ipynb")
    assert [(f.code, f.cell, f.line) for f in found] == [("BPL002", 3, 1)]
    assert "cell 2" in found[0].message


def test_trainer_that_loads_the_model_by_name_seeds_itself():
    src = "from trl import SFTTrainer\ntrainer = SFTTrainer(model={}, args=a)\ntrainer.train()\n"
    assert codes(src.format('"org/name"')) == []
    assert codes(src.format("model_args.model_name_or_path")) == []
    assert codes(src.format("model")) == []  # a model built elsewhere: nothing random before the seed
    built = "import torch\nmodel = torch.nn.Linear(2, 2)\n"
    assert codes(built + src.format("model")) == ["BPL001"]


def test_complete_language_model_and_peft_adapters():
    loop = "loss.backward()\noptimizer.step()\n"
    lm = "from transformers import AutoModelForCausalLM\nm = AutoModelForCausalLM.from_pretrained(p)\n"
    assert codes(lm + "torch.manual_seed(0)\nm = get_peft_model(m, cfg)\n" + loop) == []
    assert codes(lm + "m = get_peft_model(m, cfg)\ntorch.manual_seed(0)\n" + loop) == ["BPL002"]
