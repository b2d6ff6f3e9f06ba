import pytest
import torch

from utils.topics import pitfalls


@pytest.mark.parametrize("capacity", [1, 2, 3, 37, 64, 100, 1000])
def test_largest_batch_size_finds_the_capacity(capacity):
    search = pitfalls.largest_batch_size(lambda batch: batch <= capacity, limit=4096)
    assert search.largest == capacity
    assert len(search.tried) <= 2 * 13  # doubling plus bisection stay logarithmic


def test_largest_batch_size_limits():
    assert pitfalls.largest_batch_size(lambda batch: True, limit=100).largest == 100
    nothing = pitfalls.largest_batch_size(lambda batch: False)
    assert nothing.largest == 0
    assert nothing.tried == [(1, False)]


def test_oom_probe_maps_out_of_memory_to_false_and_reraises_other_errors():
    def step(batch):
        if batch > 8:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if batch == 0:
            raise RuntimeError("shape mismatch")

    fits = pitfalls.oom_probe(step, torch.device("cpu"))
    assert fits(8) is True
    assert fits(9) is False
    with pytest.raises(RuntimeError, match="shape mismatch"):
        fits(0)
    assert pitfalls.largest_batch_size(fits).largest == 8


def test_is_out_of_memory():
    assert pitfalls.is_out_of_memory(torch.OutOfMemoryError("x"))
    assert pitfalls.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate"))
    assert not pitfalls.is_out_of_memory(ValueError("out of memory"))
    assert not pitfalls.is_out_of_memory(RuntimeError("index out of range"))


def test_lost_update_fraction():
    before = torch.ones(4)
    # bf16 has 8 significant bits: near 1.0 its spacing is 2**-7, so 1e-4 is lost and 0.1 is kept.
    after = before + torch.tensor([1e-4, 1e-4, 0.1, 0.0])
    assert pitfalls.lost_update_fraction(before, after) == pytest.approx(2 / 3)
    assert pitfalls.lost_update_fraction(before, after, torch.float32) == 0.0
    assert pitfalls.lost_update_fraction(before, before.clone()) == 0.0


def test_outcome_records_errors_python_warnings_and_transformers_log_warnings():
    import io
    import warnings

    from transformers.utils import logging

    def noisy():
        warnings.warn("deprecated thing", FutureWarning, stacklevel=1)
        logging.get_logger("transformers.some_module").warning("\x1b[1ma library warning\x1b[0m\nmore")
        return 3

    logging.set_verbosity_error()  # as the notebooks quieten transformers
    printed = io.StringIO()
    stream = logging._default_handler.setStream(printed)  # where transformers prints its warnings
    try:
        ran = pitfalls.outcome(noisy)
        logging.get_logger("transformers.some_module").warning("after: quiet again")
    finally:
        logging._default_handler.setStream(stream)
    assert ran.raised is None and ran.result == 3 and not ran.silent
    assert sorted(ran.warnings) == ["FutureWarning: deprecated thing", "a library warning"]
    assert logging.get_verbosity() == logging.ERROR  # restored
    assert printed.getvalue() == ""  # collected, not printed

    failed = pitfalls.outcome(lambda: [][1])
    assert failed.raised.startswith("IndexError: list index out of range")
    assert not failed.silent and failed.result is None
    assert pitfalls.outcome(lambda: "fine").silent


def _tiny_classifier(**overrides):
    from tiny_models import tiny_bert_config
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(tiny_bert_config(hidden_dropout_prob=0.0, **overrides))


def _batches(count, rows=8, length=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        {
            "input_ids": torch.randint(5, 100, (rows, length), generator=generator),
            "labels": torch.randint(0, 2, (rows,), generator=generator),
        }
        for _ in range(count)
    ]


def test_logits_are_fp32_on_the_cpu_with_or_without_autocast():
    model = _tiny_classifier().eval()
    batch = {"input_ids": torch.tensor([[5, 6, 7]])}
    plain = pitfalls.logits(model, batch)
    assert plain.dtype == torch.float32 and plain.shape == (1, 2)
    autocast = pitfalls.logits(model, batch, torch.bfloat16)
    assert autocast.dtype == torch.float32
    assert torch.allclose(plain, autocast, atol=0.05) and not torch.equal(plain, autocast)


def test_bf16_weights_lose_small_updates_that_fp32_master_weights_keep():
    batches = _batches(4)
    pure = pitfalls.train_in_precision(_tiny_classifier(), batches, pure_bf16=True, learning_rate=1e-6)
    mixed = pitfalls.train_in_precision(_tiny_classifier(), batches, pure_bf16=False, learning_rate=1e-6)
    assert len(pure.losses) == len(pure.lost_updates) == 4
    # Updates of ~1e-6 are far below bf16's spacing at weights of ~0.02 (about 1e-4): nearly all vanish.
    assert min(pure.lost_updates) > 0.9
    assert min(mixed.lost_updates) > 0.9  # ...and would vanish, were the fp32 weights stored in bf16
    big = pitfalls.train_in_precision(_tiny_classifier(), batches, pure_bf16=True, learning_rate=1e-1)
    assert max(big.lost_updates) < 0.5  # large steps survive bf16 rounding


def _tiny_decoder():
    from tiny_models import tiny_gpt2_config
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(tiny_gpt2_config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)).eval()


def _lm_rows(lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(1, 50, (n,), generator=generator).tolist() for n in lengths]


def _lm_batch(rows):
    width = max(map(len, rows))
    ids = torch.tensor([row + [0] * (width - len(row)) for row in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def test_token_weighted_accumulation_is_exact_and_plain_division_is_not_for_unequal_tokens():
    model = _tiny_decoder()
    rows = _lm_rows([3, 12, 5, 9, 4, 11, 6, 8])
    assert pitfalls.predicted_tokens(_lm_batch(rows[:2])["labels"]) == 2 + 11
    full = pitfalls.accumulated_gradient(model, [_lm_batch(rows)], token_weighted=True)
    micro = [_lm_batch(rows[i : i + 2]) for i in range(0, 8, 2)]
    weighted = pitfalls.accumulated_gradient(model, micro, token_weighted=True)
    divided = pitfalls.accumulated_gradient(model, micro, token_weighted=False)
    assert pitfalls.relative_difference(weighted, full) < 1e-5
    assert pitfalls.relative_difference(divided, full) > 1e-2
    equal = _lm_rows([6] * 8, seed=1)  # equal token counts: dividing by the number of micro-batches is exact
    reference = pitfalls.accumulated_gradient(model, [_lm_batch(equal)], token_weighted=False)
    split = [_lm_batch(equal[i : i + 2]) for i in range(0, 8, 2)]
    assert (
        pitfalls.relative_difference(
            pitfalls.accumulated_gradient(model, split, token_weighted=False), reference
        )
        < 1e-5
    )


def test_trainer_gradient_of_one_step_does_not_depend_on_the_split(tmp_path):
    from datasets import Dataset
    from tokenizers import Tokenizer, models
    from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({f"t{i}": i for i in range(50)}, unk_token="t1")),
        pad_token="t0",
    )
    rows = Dataset.from_dict({"input_ids": _lm_rows([3, 12, 5, 9, 4, 11, 6, 8])})
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    gradients = [
        pitfalls.trainer_gradient(
            _tiny_decoder(),
            rows,
            collator,
            batch_size=batch,
            accumulation_steps=8 // batch,
            seed=0,
            output_dir=tmp_path / str(batch),
        )
        for batch in (8, 2)
    ]
    assert gradients[0].norm() > 0
    assert pitfalls.relative_difference(gradients[1], gradients[0]) < 1e-5
