"""Validate inference inputs before they reach the model: type, batch size and length.

A model behind an API sees whatever callers send. Without checks, a wrong type fails deep inside
the tokenizer, an over-long text is silently truncated (or crashes a model without truncation), and
an oversized batch runs out of memory. ``validate_texts`` turns each case into an ``InvalidInput``
error that says what was wrong and what the limit is; ``Classifier`` wraps a sequence classifier with it.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch


class InvalidInput(ValueError):
    """A request that the model must not see; the message says which limit it broke."""


@dataclass(frozen=True)
class Limits:
    max_batch: int = 32
    max_chars: int = 20_000
    max_tokens: int = 512  # including special tokens; at most the model's position limit


def validate_texts(texts: object, limits: Limits, tokenizer=None) -> list[str]:
    """``texts`` (one string or a sequence of strings) as a list, or ``InvalidInput``.

    With a tokenizer, a text longer than ``limits.max_tokens`` tokens is refused instead of truncated.
    """
    if isinstance(texts, str):
        texts = [texts]
    elif isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Sequence):
        raise InvalidInput(f"expected a string or a list of strings, got {type(texts).__name__}")
    texts = list(texts)
    if not texts:
        raise InvalidInput("empty batch: send at least one text")
    if len(texts) > limits.max_batch:
        raise InvalidInput(f"batch of {len(texts)} texts exceeds the limit of {limits.max_batch}")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidInput(f"text {index} is {type(text).__name__}, expected str")
        if not text.strip():
            raise InvalidInput(f"text {index} is empty or whitespace")
        if len(text) > limits.max_chars:
            raise InvalidInput(f"text {index} has {len(text):,} characters, limit {limits.max_chars:,}")
    if tokenizer is not None:
        lengths = [len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]]
        for index, length in enumerate(lengths):
            if length > limits.max_tokens:
                raise InvalidInput(
                    f"text {index} is {length} tokens long, limit {limits.max_tokens}: shorten or split it "
                    "(it is refused rather than silently truncated)"
                )
    return texts


class Classifier:
    """A sequence classifier that validates every request before running the model."""

    def __init__(self, model, tokenizer, limits: Limits, labels: Sequence[str] | None = None):
        max_positions = getattr(model.config, "max_position_embeddings", None)
        if max_positions is not None and limits.max_tokens > max_positions:
            raise ValueError(f"max_tokens {limits.max_tokens} exceeds the model's {max_positions} positions")
        self.model, self.tokenizer, self.limits = model.eval(), tokenizer, limits
        self.labels = (
            list(labels)
            if labels is not None
            else [model.config.id2label[i] for i in range(model.config.num_labels)]
        )

    def predict(self, texts: object) -> list[dict[str, object]]:
        """``[{"label", "score"}]`` per text; ``InvalidInput`` for a request outside the limits."""
        texts = validate_texts(texts, self.limits, self.tokenizer)
        batch = self.tokenizer(texts, padding=True, return_tensors="pt").to(self.model.device)
        with torch.inference_mode():
            probabilities = self.model(**batch).logits.float().softmax(-1)
        scores, indices = probabilities.max(-1)
        return [
            {"label": self.labels[i], "score": round(s, 4)}
            for i, s in zip(indices.tolist(), scores.tolist(), strict=True)
        ]


def outcome(call) -> tuple[str, object]:
    """``("ok", result)`` of ``call()``, or a one-line description of what it raised and ``None``."""
    try:
        return "ok", call()
    except InvalidInput as error:
        return f"InvalidInput: {error}", None
    except Exception as error:  # the point: show how unvalidated code fails
        return f"{type(error).__name__}: {' '.join(str(error).split())[:60]}", None
