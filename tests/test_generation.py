import warnings

import pytest
import torch
from tiny_models import tiny_gpt2_config
from transformers import GPT2LMHeadModel

from utils.topics import generation


def test_distinct_n_counts_unique_ngrams_over_all_sequences():
    assert generation.distinct_n([[1, 2, 3], [1, 2, 4]], 1) == pytest.approx(4 / 6)
    assert generation.distinct_n([[1, 2, 3], [1, 2, 4]], 2) == pytest.approx(3 / 4)
    assert generation.distinct_n([["a", "b"]], 3) == 0.0


def test_repetition_rate_of_a_loop_and_of_unique_text():
    assert generation.repetition_rate(list(range(20)), 4) == 0.0
    loop = [1, 2, 3] * 10  # 27 four-grams, only 3 distinct
    assert generation.repetition_rate(loop, 4) == pytest.approx(1 - 3 / 27)
    assert generation.repetition_rate([1, 2], 4) == 0.0


def test_pack_blocks_appends_eos_and_drops_the_tail():
    blocks = generation.pack_blocks([[1, 2, 3], [4, 5]], block_size=3, eos_id=0)
    assert blocks == [[1, 2, 3], [0, 4, 5]]  # the trailing eos is an incomplete block
    with pytest.raises(ValueError):
        generation.pack_blocks([[1]], block_size=0, eos_id=0)


def test_byte_bpe_round_trips_text_exactly():
    texts = ["The Bank of England raised rates.", "Café owners said 3.5% was too much!"] * 20
    tokenizer = generation.train_byte_bpe(texts, vocab_size=300)
    assert tokenizer.pad_token and tokenizer.eos_token and tokenizer.bos_token
    unseen = "Ünïcode and  double  spaces\nnew line"
    ids = tokenizer(unseen)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == unseen
    assert len(tokenizer) <= 300


def test_timed_generate_returns_new_tokens_and_rate():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(tiny_gpt2_config()).eval()
    inputs = {
        "input_ids": torch.tensor([[1, 2, 3], [4, 5, 6]]),
        "attention_mask": torch.ones(2, 3, dtype=torch.long),
    }
    result = generation.timed_generate(
        model, inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False, pad_token_id=0
    )
    assert result.new_tokens.shape == (2, 5)
    assert torch.equal(result.sequences[:, :3], inputs["input_ids"])
    assert result.seconds > 0
    assert result.tokens_per_s == pytest.approx(10 / result.seconds)


def test_known_share_counts_ngrams_seen_in_reference_text():
    known = generation.ngrams([[1, 2, 3, 4]], 2)
    assert known == {(1, 2), (2, 3), (3, 4)}
    assert generation.known_share([[1, 2, 3], [3, 4, 9]], known) == pytest.approx(3 / 4)
    assert generation.known_share([[1]], known) == 0.0


def test_text_statistics_of_a_loop_and_of_known_text():
    known = generation.ngrams([[1, 2, 3, 4, 5]], 2)
    loop = generation.text_statistics([[1, 2, 3, 1, 2, 3, 1, 2, 3]], known)
    assert loop["distinct-1"] == pytest.approx(3 / 9)
    assert loop["4-gram repetition rate"] == pytest.approx(1 - 3 / 6)
    assert loop["known bigrams"] == pytest.approx(6 / 8)  # (3, 1) was never seen
    fresh = generation.text_statistics([[1, 2, 3, 4], [5, 6, 7, 8]], known)
    assert fresh["distinct-2"] == 1.0 and fresh["4-gram repetition rate"] == 0.0
    assert fresh["known bigrams"] == pytest.approx(3 / 6)


def _run(tokens, logits):
    return generation.GreedyRun(torch.tensor(tokens), torch.tensor(logits, dtype=torch.float32))


def test_agreement_compares_logits_up_to_the_first_differing_token():
    reference = _run([[0, 1]], [[[2.0, 1.0], [1.0, 3.0]]])
    assert generation.agreement(reference, reference)[0] == generation.RowAgreement(True, None, 0.0)
    # A near tie at step 0 flips the token; the later steps (other histories) are not compared.
    tie = generation.agreement(_run([[1, 0]], [[[2.0, 2.0 + 5e-4], [9.0, 0.0]]]), reference)[0]
    assert not tie.identical and tie.first_difference == 0
    assert tie.max_logit_difference == pytest.approx(1.0 + 5e-4)
    assert not tie.within()
    close = generation.agreement(
        _run([[1, 0]], [[[1.9995, 2.0], [9.0, 0.0]]]), _run([[0, 1]], [[[2.0, 1.9999], [0.0, 0.0]]])
    )[0]
    assert close.first_difference == 0 and close.within()
    same_tokens_other_logits = generation.agreement(_run([[0, 1]], [[[2.0, 1.0], [1.0, 3.1]]]), reference)[0]
    assert same_tokens_other_logits.identical and not same_tokens_other_logits.within()
    with pytest.raises(ValueError):
        generation.agreement(_run([[0]], [[[1.0, 0.0]]]), reference)


def test_greedy_keeps_the_logits_that_chose_each_token():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(tiny_gpt2_config()).eval()
    inputs = {"input_ids": torch.tensor([[1, 2, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    run = generation.greedy(model, inputs, max_new_tokens=4, min_new_tokens=4, pad_token_id=0)
    assert run.tokens.shape == (1, 4) and run.logits.shape == (1, 4, 50)
    assert torch.equal(run.logits.argmax(-1), run.tokens)
    both = generation.concat_runs([run, run])
    assert both.tokens.shape == (2, 4)
    assert all(row.identical and row.within() for row in generation.agreement(both, both))


def test_step_seconds_times_cached_and_uncached_steps():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(tiny_gpt2_config()).eval()
    ids = torch.randint(0, 50, (2, 10))
    for use_cache in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # the cache is passed under the name forward takes
            seconds = generation.step_seconds(model, ids, use_cache=use_cache, warmup=1, repeats=3)
        assert len(seconds) == 3 and min(seconds) > 0
    with pytest.raises(ValueError):
        generation.step_seconds(model, ids, use_cache=True, repeats=0)


def test_compare_decoding_times_every_arm_in_each_round_under_its_numeric_state():
    from utils import numerics

    torch.manual_seed(0)
    model = GPT2LMHeadModel(tiny_gpt2_config()).eval()
    inputs = {"input_ids": torch.tensor([[1, 2, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    no_math = numerics.NumericState(sdpa_backends=("flash", "efficient", "cudnn"))
    arms = {
        "cache": generation.DecodingArm({"use_cache": True}),
        "no cache": generation.DecodingArm({"use_cache": False}, state=no_math, warmup=2),
    }
    kwargs = dict(max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=0)
    timings = generation.compare_decoding(model, inputs, arms, rounds=3, **kwargs)
    assert list(timings) == ["cache", "no cache"]
    for timing in timings.values():
        assert len(timing.tokens_per_s) == 3 and min(timing.tokens_per_s) > 0
        assert timing.first_call_seconds > 0 and timing.new_tokens.shape == (1, 4)
    assert timings["no cache"].numeric_state["sdpa_backends"] == ["cudnn", "efficient", "flash"]
    assert torch.equal(timings["cache"].new_tokens, timings["no cache"].new_tokens)  # greedy, fp32
    numerics.ensure(numerics.NumericState())
    with pytest.raises(ValueError):
        generation.compare_decoding(model, inputs, arms, rounds=0, **kwargs)
