"""Preprocessing choices that change accuracy or cost: truncation side, padding and batch order,
leaks between splits, and tokenizer vocabularies."""

from collections.abc import Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

TRUNCATION_SIDES = ("head", "tail", "head+tail")


def truncate_tokens(
    ids: Sequence[int], budget: int, side: str = "head", head_share: float = 0.25
) -> list[int]:
    """At most ``budget`` token ids of ``ids``: the first ones, the last ones, or both ends.

    ``"head+tail"`` keeps ``head_share`` of the budget from the start and the rest from the end
    (Sun et al., 2019, keep the first 128 and last 382 of 510 tokens).
    """
    if side not in TRUNCATION_SIDES:
        raise ValueError(f"side must be one of {', '.join(TRUNCATION_SIDES)}, not {side!r}")
    ids = list(ids)
    if len(ids) <= budget:
        return ids
    if side == "head":
        return ids[:budget]
    if side == "tail":
        return ids[len(ids) - budget :]
    head = round(budget * head_share)
    return ids[:head] + ids[len(ids) - (budget - head) :]


def encode_truncated(
    texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int, side: str = "head"
) -> dict[str, list[list[int]]]:
    """Single-sequence model inputs of at most ``max_length`` tokens, truncated on ``side``.

    Tokenises without special tokens, truncates the body to ``max_length - 2`` tokens, then wraps
    it in the tokenizer's ``[CLS] ... [SEP]`` (BERT-style single-sequence layout).
    """
    bodies = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    input_ids = [
        [tokenizer.cls_token_id, *truncate_tokens(body, max_length - 2, side), tokenizer.sep_token_id]
        for body in bodies
    ]
    return {
        "input_ids": input_ids,
        "attention_mask": [[1] * len(ids) for ids in input_ids],
        "token_type_ids": [[0] * len(ids) for ids in input_ids],
    }


def group_by_length_order(
    lengths: Sequence[int], batch_size: int, seed: int, megabatch_batches: int = 50
) -> list[int]:
    """A shuffled order in which neighbouring examples have similar lengths.

    Like transformers' ``LengthGroupedSampler``: shuffle, cut into mega-batches of
    ``megabatch_batches * batch_size`` examples, sort each by length (longest first), then shuffle
    the order of the resulting batches, so that batch shapes vary but padding inside a batch is small.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    size = megabatch_batches * batch_size
    batches = []
    for start in range(0, len(order), size):
        mega = sorted(order[start : start + size].tolist(), key=lambda i: -lengths[i])
        batches += [mega[i : i + batch_size] for i in range(0, len(mega), batch_size)]
    return [index for b in (batches[i] for i in rng.permutation(len(batches))) for index in b]


def padded_length(longest: int, max_length: int | None, pad_to_multiple_of: int | None) -> int:
    """Length a batch is padded to: ``max_length`` if given (static), else its longest sequence,
    rounded up to a multiple of ``pad_to_multiple_of``."""
    length = max_length or longest
    if pad_to_multiple_of:
        length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    return length


def pad_fraction(
    lengths: Sequence[int],
    order: Sequence[int],
    batch_size: int,
    *,
    max_length: int | None = None,
    pad_to_multiple_of: int | None = None,
) -> float:
    """Fraction of the tokens in all batches that are padding, for examples taken in ``order``.

    ``max_length`` pads every batch to that length (static padding); ``None`` pads each batch to
    its longest sequence (dynamic padding).
    """
    real = padded = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start : start + batch_size]]
        real += sum(batch)
        padded += len(batch) * padded_length(max(batch), max_length, pad_to_multiple_of)
    return 1 - real / padded if padded else 0.0


def exact_copies(texts: Sequence[str], reference: Sequence[str]) -> list[bool]:
    """For each of ``texts``, whether the identical string occurs in ``reference``."""
    seen = set(reference)
    return [text in seen for text in texts]


def train_wordpiece(
    texts: Sequence[str], vocab_size: int = 8000, *, lowercase: bool = True
) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer trained on ``texts`` with the ``tokenizers`` library.

    Its ids mean nothing to a model pretrained with another vocabulary: that is what it is for here.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
