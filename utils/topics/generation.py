"""Text generation: a byte-level BPE tokenizer, packed training blocks, diversity metrics and timing."""

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerFast

from utils.measure import timed

SPECIAL_TOKENS = {"bos_token": "<|bos|>", "eos_token": "<|endoftext|>", "pad_token": "<|pad|>"}


def train_byte_bpe(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A GPT-2-style byte-level BPE tokenizer trained on ``texts``, with bos, eos and pad tokens.

    Byte-level BPE reads any string (no unknown token) and decodes it back exactly.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)


def pack_blocks(sequences: Iterable[Sequence[int]], block_size: int, eos_id: int) -> list[list[int]]:
    """Concatenate token sequences, each followed by ``eos_id``, and cut into full blocks of ``block_size``.

    The incomplete tail is dropped, so every block is a full training example without padding.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be positive, not {block_size}")
    stream: list[int] = []
    for sequence in sequences:
        stream.extend(sequence)
        stream.append(eos_id)
    return [
        stream[start : start + block_size] for start in range(0, len(stream) - block_size + 1, block_size)
    ]


def _ngrams(tokens: Sequence, n: int) -> list[tuple]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(sequences: Iterable[Sequence], n: int) -> float:
    """Distinct n-grams over all n-grams of all sequences (Li et al., 2016); 0.0 when there are none.

    Higher is more diverse. Sequences are lists of tokens (ids or words).
    """
    grams = [gram for sequence in sequences for gram in _ngrams(sequence, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(sequence: Sequence, n: int = 4) -> float:
    """Fraction of the n-grams of one sequence that repeat an earlier n-gram of the same sequence.

    0.0 means no n-gram occurs twice; a loop that repeats one phrase forever approaches 1.0.
    """
    grams = _ngrams(sequence, n)
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


@dataclass
class GenerationTiming:
    sequences: torch.Tensor
    new_tokens: torch.Tensor
    seconds: float
    tokens_per_s: float


def timed_generate(model, inputs: dict[str, torch.Tensor], **generate_kwargs) -> GenerationTiming:
    """``model.generate(**inputs, **generate_kwargs)``, synchronised and timed.

    ``new_tokens`` are the generated ids after the prompt (padded prompts included); tokens/s counts
    every generated position of every row, including those after an early end of sequence.
    """
    device = inputs["input_ids"].device
    with torch.inference_mode(), timed(device) as timing:
        sequences = model.generate(**inputs, **generate_kwargs)
    new_tokens = sequences[:, inputs["input_ids"].shape[1] :]
    return GenerationTiming(sequences, new_tokens, timing.seconds, new_tokens.numel() / timing.seconds)


@dataclass
class GenerationBenchmark:
    first_call_seconds: float
    """The first (warm-up) call: includes compilation, cache allocation and CUDA graph capture."""
    tokens_per_s: float
    """Median over the timed calls after warm-up."""
    seconds: list[float]
    new_tokens: torch.Tensor
    """The new tokens of the last call."""


def benchmark_generate(
    model, inputs: dict[str, torch.Tensor], *, warmup: int = 1, repeats: int = 3, **generate_kwargs
) -> GenerationBenchmark:
    """Generated tokens per second of ``model.generate``: ``warmup`` untimed calls (the first one's time is
    kept apart), then the median of ``repeats`` timed calls."""
    if warmup < 1 or repeats < 1:
        raise ValueError("warmup and repeats must be at least 1")
    first = timed_generate(model, inputs, **generate_kwargs).seconds
    for _ in range(warmup - 1):
        timed_generate(model, inputs, **generate_kwargs)
    runs = [timed_generate(model, inputs, **generate_kwargs) for _ in range(repeats)]
    rates = sorted(run.tokens_per_s for run in runs)
    return GenerationBenchmark(
        first_call_seconds=first,
        tokens_per_s=statistics.median(rates),
        seconds=[run.seconds for run in runs],
        new_tokens=runs[-1].new_tokens,
    )
