"""Text generation for notebook 10 (and the decoder padding of notebook 09): a byte-level BPE tokenizer,
packed training blocks, diversity metrics, generations compared up to floating-point rounding, and
timing of decoding steps and modes."""

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache, PreTrainedTokenizerFast

from utils import numerics
from utils.measure import timed

LOGIT_TOLERANCE = 1e-3
"""How far two fp32 computations of the same logits may differ from rounding alone.

fp32 keeps about 7 significant digits. The same input computed in another batch shape (padding,
another batch size) runs other kernels that add the same products in another order; after a few
transformer layers, logits of magnitude ~10 then differ in the 5th or 6th digit (~1e-5). 1e-3 leaves
a wide margin above that and stays far below the gaps between a model's best and second-best token
(usually 0.1 or more), so a larger difference is a different computation, not rounding. It holds for
fp32 with TF32 off; TF32 or bf16 round at the 3rd digit and need their own tolerance.
"""

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


def ngrams(sequences: Iterable[Sequence], n: int) -> set[tuple]:
    """The set of distinct n-grams of ``sequences``."""
    return {gram for sequence in sequences for gram in _ngrams(sequence, n)}


def known_share(sequences: Iterable[Sequence], known: set[tuple], n: int = 2) -> float:
    """Fraction of the n-grams of ``sequences`` (counted with repeats) that occur in ``known``.

    With ``known`` the n-grams of the training text, this is a simple fluency proxy: a model sampling
    from the unreliable tail of its distribution writes token pairs that no training text contains.
    0.0 when there are no n-grams.
    """
    grams = [gram for sequence in sequences for gram in _ngrams(sequence, n)]
    return sum(gram in known for gram in grams) / len(grams) if grams else 0.0


def repetition_rate(sequence: Sequence, n: int = 4) -> float:
    """Fraction of the n-grams of one sequence that repeat an earlier n-gram of the same sequence.

    0.0 means no n-gram occurs twice; a loop that repeats one phrase forever approaches 1.0.
    """
    grams = _ngrams(sequence, n)
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def text_statistics(sequences: Sequence[Sequence], known_bigrams: set[tuple]) -> dict[str, float]:
    """Diversity and repetition of generated (or real) token sequences: distinct-1 and distinct-2 over
    all sequences, the 4-gram repetition rate averaged over sequences, and the share of bigrams that
    occur in ``known_bigrams`` (see :func:`known_share`)."""
    return {
        "distinct-1": distinct_n(sequences, 1),
        "distinct-2": distinct_n(sequences, 2),
        "4-gram repetition rate": sum(repetition_rate(s, 4) for s in sequences) / max(1, len(sequences)),
        "known bigrams": known_share(sequences, known_bigrams, 2),
    }


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
class GreedyRun:
    tokens: torch.Tensor
    """``(rows, steps)`` generated ids after the prompt."""
    logits: torch.Tensor
    """``(rows, steps, vocabulary)`` next-token logits before any processing, fp32, on the CPU."""


def greedy(model, inputs: dict[str, torch.Tensor], **generate_kwargs) -> GreedyRun:
    """Greedy ``generate`` that also keeps the raw logits of every step (``output_logits=True``)."""
    with torch.inference_mode():
        out = model.generate(
            **inputs, do_sample=False, output_logits=True, return_dict_in_generate=True, **generate_kwargs
        )
    tokens = out.sequences[:, inputs["input_ids"].shape[1] :].cpu()
    return GreedyRun(tokens, torch.stack(out.logits, dim=1).float().cpu())


def concat_runs(runs: Sequence[GreedyRun]) -> GreedyRun:
    """One run from several (e.g. one prompt at a time), rows in order; all must have the same steps."""
    return GreedyRun(torch.cat([r.tokens for r in runs]), torch.cat([r.logits for r in runs]))


@dataclass
class RowAgreement:
    identical: bool
    """Every generated token equals the reference's."""
    first_difference: int | None
    """The first step whose token differs (None when identical)."""
    max_logit_difference: float
    """max |Δ logit| over the steps up to and including the first difference, where both runs have
    seen the same tokens and should compute the same logits."""

    def within(self, tolerance: float = LOGIT_TOLERANCE) -> bool:
        """Equal up to rounding: the logits agree within ``tolerance`` wherever the histories agree, so
        a differing token (if any) comes from a near tie that rounding can flip."""
        return self.max_logit_difference <= tolerance


def agreement(run: GreedyRun, reference: GreedyRun) -> list[RowAgreement]:
    """Row by row, how ``run`` agrees with ``reference`` (the same prompts generated another way).

    Exact token equality is too strict a test for two computations of the same model: where the two
    best tokens are within rounding of each other, either may win, and after that the continuations
    legitimately differ. So the logits are compared at every step until (and including) the first
    differing token; after it, the histories differ and nothing is compared.
    """
    if run.tokens.shape != reference.tokens.shape:
        shapes = f"{tuple(run.tokens.shape)} vs {tuple(reference.tokens.shape)}"
        raise ValueError(f"runs differ in shape: {shapes}")
    rows = []
    for tokens, logits, ref_tokens, ref_logits in zip(
        run.tokens, run.logits, reference.tokens, reference.logits, strict=True
    ):
        differs = (tokens != ref_tokens).nonzero()
        first = int(differs[0]) if len(differs) else None
        compared = slice(0, None if first is None else first + 1)
        gap = (logits[compared] - ref_logits[compared]).abs().max().item()
        rows.append(RowAgreement(first is None, first, gap))
    return rows


def step_seconds(
    model, input_ids: torch.Tensor, *, use_cache: bool, warmup: int = 2, repeats: int = 5
) -> list[float]:
    """Seconds of single greedy decoding steps after a context of ``input_ids.shape[1]`` tokens.

    With ``use_cache``, the context is run once to fill a KV cache, then each step feeds one new token
    against it (the context grows by one token per step, as in ``generate``). Without, each step runs
    the whole context plus the new token again, which is what ``generate(use_cache=False)`` does at
    every step. Only the logits of the last position are computed, as ``generate`` asks for.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError("warmup must be >= 0 and repeats >= 1")
    device = input_ids.device
    next_token = input_ids[:, -1:]
    with torch.inference_mode():
        if use_cache:
            # transformers renamed forward's `past_key_values` to `cache` (5.2x); pass whichever it takes.
            name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
            cache = {name: DynamicCache()}
            model(input_ids, use_cache=True, logits_to_keep=1, **cache)

            def step():
                model(next_token, use_cache=True, logits_to_keep=1, **cache)

        else:
            whole = torch.cat([input_ids, next_token], dim=1)

            def step():
                model(whole, use_cache=False, logits_to_keep=1)

        for _ in range(warmup):
            step()
        seconds = []
        for _ in range(repeats):
            with timed(device) as timing:
                step()
            seconds.append(timing.seconds)
    return seconds


@dataclass(frozen=True)
class DecodingArm:
    """One way to decode, timed against others on the same model and prompts."""

    options: dict = field(default_factory=dict)
    """Keyword arguments of ``generate`` (``use_cache``, ``cache_implementation``, ...)."""
    state: numerics.NumericState = field(default_factory=numerics.NumericState)
    """The numeric state the arm runs under; set (and checked) before each of its calls."""
    warmup: int = 1
    """Untimed calls before the timed rounds; the first one's time is kept (compilation, if any)."""
    fresh_compile: bool = False
    """Drop torch.compile's caches before the first call, so the arm pays its own compilation."""


@dataclass
class ArmTiming:
    first_call_seconds: float
    tokens_per_s: list[float]
    """One value per timed round."""
    numeric_state: dict
    new_tokens: torch.Tensor
    """The new tokens of the last round."""


def compare_decoding(
    model,
    inputs: dict[str, torch.Tensor],
    arms: dict[str, DecodingArm],
    *,
    rounds: int = 3,
    **generate_kwargs,
) -> dict[str, ArmTiming]:
    """Generated tokens/s of each arm over ``rounds`` timed rounds.

    All warm-up calls run first, then every round times each arm once, in turn, so that drift of the
    machine (clocks, other load) affects all arms alike. ``generate_kwargs`` are common to all arms.
    """
    if rounds < 1 or any(arm.warmup < 1 for arm in arms.values()):
        raise ValueError("rounds and every arm's warmup must be at least 1")
    first, reading = {}, {}
    for name, arm in arms.items():
        reading[name] = numerics.ensure(arm.state, reset_compiled=arm.fresh_compile)
        first[name] = timed_generate(model, inputs, **generate_kwargs, **arm.options).seconds
        for _ in range(arm.warmup - 1):
            timed_generate(model, inputs, **generate_kwargs, **arm.options)
    rates: dict[str, list[float]] = {name: [] for name in arms}
    last: dict[str, torch.Tensor] = {}
    for _ in range(rounds):
        for name, arm in arms.items():
            numerics.ensure(arm.state)
            run = timed_generate(model, inputs, **generate_kwargs, **arm.options)
            rates[name].append(run.tokens_per_s)
            last[name] = run.new_tokens
    return {name: ArmTiming(first[name], rates[name], reading[name], last[name]) for name in arms}
