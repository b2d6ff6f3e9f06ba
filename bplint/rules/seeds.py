"""Reproducibility: seeding before training and before building the model."""

from __future__ import annotations

from bplint.registry import WARNING, Rule, register
from bplint.rules._facts import Event, TrainingFacts, first, where

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
loads it itself, after seeding with `args.seed` (TRL trainers do), and is not reported. A
transformers `Trainer` (and its subclasses: TRL, sentence-transformers) seeds in its constructor,
so a file that trains with one is reported only when it builds a model with new random weights
before that (a task head, `get_peft_model` adapters, a `torch.nn` model), without `model_init`.
A seed set only under `if args.seed is not None:` while the `--seed` option defaults to None is
reported too: by default such a run is not seeded.

## Why is this bad?
Initialisation of new layers, dropout and data shuffling differ from run to run: two runs of the
same configuration differ, and a comparison between two configurations measures noise. `Trainer`
seeds (`args.seed`) when it is created, after the model and its new head were built.

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
        training = facts.training()
        if training is None:
            return
        if facts.seeds:
            self._guarded_only(facts)
            return
        if facts.hand_loop():  # nothing seeds a hand-written loop: point at it
            self.report(min(facts.backward, key=first).loc, "Training loop without a seed: call "
                        "torch.manual_seed(seed) or transformers.set_seed(seed) before building the model "
                        "and data loaders")
        elif not facts.seeding_trainer:  # Lightning and other trainers that do not seed themselves
            self.report(training, "Training without a seed: call seed_everything(seed) (Lightning) or "
                        "torch.manual_seed(seed) before building the model and data loaders")
        else:
            before = self._random_before_trainer(facts)
            if facts.trainer_builds_model or facts.model_init or before is None:
                return  # the trainer seeds in its constructor, before any random weights exist
            self.report(training, f"Training without a seed: the model built at {where(before)} gets new "
                        "random weights (a head, adapters) before Trainer seeds in its constructor; call "
                        "transformers.set_seed(seed) before building the model")

    @staticmethod
    def _random_before_trainer(facts: TrainingFacts) -> Event | None:
        """The first model with new random weights built before a trainer, in the trainer's function
        (or at module level)."""
        for trainer in sorted(facts.trainers, key=first):
            built = [m for m in facts.models
                     if m.order < trainer.order and (m.scope is trainer.scope or m.scope is None)]
            if built:
                return min(built, key=first)
        return None

    def _guarded_only(self, facts: TrainingFacts) -> None:
        """Every seed call depends on a seed option whose default is None: by default, no seed."""
        if facts.seed_default is not None or not all(facts.guarded(s) for s in facts.seeds):
            return
        self.report(min(facts.seeds, key=first).loc, "The seed is set only when --seed is given (its default "
                    "is None): give the option a default (default=42) so that every run is seeded")


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
Reports a training script or notebook whose first seed call comes after a model got new random
weights: `from_pretrained` of a class with a task head that fine-tuning adds
(`*ForSequenceClassification`, `*ForTokenClassification`, `*ForQuestionAnswering`,
`*ForImageClassification`, `*ForCTC`...), `from_config` or a transformers model class built from
its configuration, `get_peft_model(...)` (new adapter weights), a `torch.nn` layer, or a class of
the file derived from `nn.Module`/`PreTrainedModel`/`LightningModule`; in source order (cell order
in a notebook), when the `Trainer` gets no `model_init`. Events inside different functions are not
compared (their call order is unknown). `from_pretrained` of a model whose checkpoint holds all its
weights (`AutoModel`, `*ForCausalLM`, `*ForConditionalGeneration`...) initialises nothing at random.

## Why is this bad?
`from_pretrained` of a model with a new task head (e.g. `AutoModelForSequenceClassification`)
initialises that head randomly. Seeding afterwards (or letting `Trainer` seed when it is created)
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
        module_seeds = [s.order for s in facts.seeds if s.scope is None]
        first_in_scope: dict[int, Event] = {}
        for m in facts.models:
            key = id(m.scope) if m.scope is not None else 0
            if key not in first_in_scope or m.order < first_in_scope[key].order:
                first_in_scope[key] = m
        for model in sorted(first_in_scope.values(), key=first):
            seeds = sorted((s for s in facts.seeds if s.scope is model.scope), key=first)
            if not seeds or seeds[0].order < model.order:
                continue
            if model.scope is not None and any(o < model.order for o in module_seeds):
                continue
            self.report(seeds[0].loc, f"Seed set only after the model was built ({where(model)}): move the "
                        "seed call before building the model, or pass model_init= to Trainer")
            return
