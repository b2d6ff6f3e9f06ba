"""Small pieces that the notebooks' training runs share."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, DatasetDict
from transformers import (
    EarlyStoppingCallback,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    Trainer,
    TrainingArguments,
)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def bf16_supported() -> bool:
    """Whether bf16 mixed precision is worth using here: a CUDA device with native bf16 (Ampere or newer)."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def tokenize(
    data: Dataset | DatasetDict, tokenizer: PreTrainedTokenizerBase, max_length: int, column: str = "text"
) -> Dataset | DatasetDict:
    """Tokenise ``column`` in batches, truncating to ``max_length`` and leaving padding to the collator."""
    names = data["train"].column_names if isinstance(data, DatasetDict) else data.column_names
    return data.map(
        lambda batch: tokenizer(batch[column], truncation=True, max_length=max_length),
        batched=True,
        remove_columns=[name for name in names if name not in ("label", "labels")],
    )


def accuracy(prediction) -> dict[str, float]:
    """``compute_metrics`` for Trainer: accuracy of the arg-max class."""
    logits, labels = prediction
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def history(log_history: list[dict], key: str) -> tuple[list[int], list[float]]:
    """Steps and values of one logged quantity (``"loss"``, ``"eval_accuracy"``, ...) of a Trainer run."""
    points = [(entry["step"], entry[key]) for entry in log_history if key in entry]
    return [step for step, _ in points], [value for _, value in points]


def fixed_budget_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    output_dir: str | Path,
    train_dataset: Dataset,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    eval_dataset: Dataset | None = None,
    eval_every: int = 50,
    compute_metrics: Callable | None = accuracy,
    data_seed: int | None = None,
    early_stopping_patience: int | None = None,
) -> Trainer:
    """A ``Trainer`` for exactly ``steps`` optimizer steps: linear decay after 10% warm-up, bf16 where
    the device supports it, dynamic padding, no checkpoints; evaluated every ``eval_every`` steps
    when an ``eval_dataset`` is given. ``data_seed`` (default: ``seed``) orders the training batches.
    The log history is kept; nothing is printed.

    With ``early_stopping_patience``, training stops after that many evaluations in a row without a
    lower validation loss, and the best model is loaded at the end: a checkpoint (weights only) is
    saved at every evaluation, and only the best and the latest are kept; they stay in ``output_dir``.
    """
    stopping = early_stopping_patience is not None
    if stopping and eval_dataset is None:
        raise ValueError("early stopping needs a validation data set as eval_dataset")
    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=64,
        learning_rate=learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=0.1,
        eval_strategy="steps" if eval_dataset is not None else "no",
        eval_steps=eval_every,
        logging_steps=eval_every,
        # Early stopping saves where it evaluates: load_best_model_at_end needs matching strategies and steps.
        save_strategy="steps" if stopping else "no",
        save_steps=eval_every,
        save_only_model=True,
        save_total_limit=1 if stopping else None,  # the best checkpoint is kept as well
        load_best_model_at_end=stopping,
        metric_for_best_model="eval_loss" if stopping else None,
        bf16=bf16_supported(),
        dataloader_pin_memory=device().type == "cuda",
        seed=seed,
        data_seed=data_seed,
        report_to="none",
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        compute_metrics=compute_metrics if eval_dataset is not None else None,
        callbacks=[EarlyStoppingCallback(early_stopping_patience)] if stopping else None,
    )
    trainer.remove_callback(PrinterCallback)
    return trainer


def unwrap_mixed_precision(trainer: Trainer) -> PreTrainedModel:
    """The trained model with its own ``forward`` back, in place, and returned.

    With ``bf16=True`` or ``fp16=True``, accelerate replaces the model's ``forward`` with one that runs
    under autocast and casts the outputs to fp32, and Trainer leaves it there after training: the model
    it returns keeps computing in 16 bits, even under code that asks for fp32. Later ``evaluate`` calls of
    ``trainer`` run in fp32 too.
    """
    return trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
