"""Reproducibility: seeding before training and before building the model."""

from __future__ import annotations

from bplint.registry import WARNING, Rule, register
from bplint.rules._facts import TrainingFacts

NOTEBOOK = "notebooks/08_reproducibility.ipynb"
TRIGGERS = ("train(", "fit(", "backward")


@register
class TrainingWithoutSeed(Rule):
    code = "BPL001"
    name = "training-without-seed"
    summary = "Training without seeding: call transformers.set_seed(seed) before building the model"
    severity = WARNING
    notebook = NOTEBOOK
    collectors = (TrainingFacts,)
    triggers = TRIGGERS
    explanation = """
## What it does
Reports a script or notebook that trains (`trainer.train()` on a `Trainer`/`SFTTrainer`-like
object, Lightning `trainer.fit()`, or a loop with `.backward()` and `optimizer.step()`, including
`accelerator.backward`) but never seeds the random number generators (`transformers.set_seed`,
`enable_full_determinism`, `torch.manual_seed`, `torch.cuda.manual_seed_all`, Lightning
`seed_everything`, `accelerate.utils.set_seed`, or any function whose name contains `seed`,
except `random.seed` and `numpy.random.seed`, which do not seed torch). A trainer that gets its
model by name or path (`SFTTrainer(model="org/name")`, `model=model_args.model_name_or_path`)
loads it itself, after seeding with `args.seed` (TRL trainers do), and is not reported.

## Why is this bad?
Initialisation of new layers, dropout and data shuffling differ from run to run: two runs of the
same configuration differ, and a comparison between two configurations measures noise. `Trainer`
seeds (`args.seed`) only inside `train()`, after the model and its new head were built.

## Example
```python
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
trainer = Trainer(model=model, args=args, train_dataset=ds)
trainer.train()
```

Use instead:
```python
from transformers import set_seed

set_seed(42)
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
trainer = Trainer(model=model, args=args, train_dataset=ds)
trainer.train()
```

## How to fix
Call `transformers.set_seed(seed)` (or `enable_full_determinism(seed)` for bitwise
reproducibility) at the top of the script, before any model or data loader is built.
"""

    def finish(self) -> None:
        facts = self.ctx.collector(TrainingFacts)
        where = facts.training()
        if where is None or facts.seeds:
            return
        if facts.trainer_builds_model and not facts.hand_loop():
            return  # TRL trainers seed with args.seed before they load a model given by name
        if facts.train_events:
            msg = ("Training without a seed: call transformers.set_seed(seed) before building the model "
                   "(Trainer seeds only inside train(), after the model was built)")
        else:
            msg = ("Training loop without a seed: call torch.manual_seed(seed) or "
                   "transformers.set_seed(seed) before building the model and data loaders")
        self.report(where, msg)


@register
class SeedAfterModel(Rule):
    code = "BPL002"
    name = "seed-after-model-init"
    summary = "Seed set only after the model was built: move set_seed() before building the model"
    severity = WARNING
    notebook = NOTEBOOK
    collectors = (TrainingFacts,)
    triggers = TRIGGERS
    explanation = """
## What it does
Reports a training script or notebook whose first seed call comes after the model was built
(`from_pretrained` or `from_config` of a model class, `get_peft_model(...)` (new adapter weights),
a `torch.nn` layer, or a class of the file derived from `nn.Module`/`PreTrainedModel`/
`LightningModule`), in source order (cell order in a
notebook), when the `Trainer` gets no `model_init`. Events inside different functions are not
compared (their call order is unknown). `from_pretrained` of a complete language model
(`*ForCausalLM`, `*ForMaskedLM`, `*ForSeq2SeqLM`, `*LMHeadModel`) is not a model-building step
here: the checkpoint holds all its weights, nothing is initialised at random.

## Why is this bad?
`from_pretrained` of a model with a new task head (e.g. `AutoModelForSequenceClassification`)
initialises that head randomly. Seeding afterwards (or letting `Trainer` seed inside `train()`)
leaves the head, and so the whole run, unreproducible.

## Example
```python
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
set_seed(42)
Trainer(model=model, args=args, train_dataset=ds).train()
```

Use instead:
```python
set_seed(42)
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
Trainer(model=model, args=args, train_dataset=ds).train()
```

## How to fix
Move the seed call before the model is built, or pass `model_init=` to `Trainer` (it then builds
the model after seeding, in every run and every hyperparameter trial).
"""

    def finish(self) -> None:
        facts = self.ctx.collector(TrainingFacts)
        if facts.training() is None or facts.model_init or not facts.seeds or not facts.models:
            return
        module_seeds = [s[0] for s in facts.seeds if s[2] is None]
        scopes: dict[int, tuple] = {}
        for m in facts.models:
            key = id(m[2]) if m[2] is not None else 0
            if key not in scopes or m[0] < scopes[key][0]:
                scopes[key] = m
        for first_model in sorted(scopes.values(), key=lambda m: m[0]):
            seeds = sorted((s for s in facts.seeds if s[2] is first_model[2]), key=lambda s: s[0])
            if not seeds or seeds[0][0] < first_model[0]:
                continue
            if first_model[2] is not None and any(o < first_model[0] for o in module_seeds):
                continue
            m_loc = first_model[1]
            where = f"cell {m_loc.cell}, line {m_loc.line}" if m_loc.cell else f"line {m_loc.line}"
            self.report(seeds[0][1], f"Seed set only after the model was built ({where}): move the seed "
                        "call before building the model, or pass model_init= to Trainer")
            return
