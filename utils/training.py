"""Small pieces that the notebooks' training runs share."""

import numpy as np
import torch
from datasets import Dataset, DatasetDict
from transformers import PreTrainedTokenizerBase


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
