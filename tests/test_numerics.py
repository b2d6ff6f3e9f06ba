import pytest
import torch
from datasets import Dataset
from tiny_models import tiny_bert_config
from transformers import BertForSequenceClassification, Trainer, TrainingArguments
from transformers.utils import enable_tf32

from utils import numerics
from utils.numerics import NumericState, NumericStateError


@pytest.fixture(autouse=True)
def plain_state_afterwards():
    yield
    numerics.apply(NumericState())


def test_states_apply_in_any_order_and_read_back():
    for tf32 in (True, False, True, False):
        reading = numerics.ensure(NumericState(tf32=tf32))
        assert reading["matmul_fp32_precision"] == ("tf32" if tf32 else "ieee")
        assert reading["cudnn_conv_fp32_precision"] == reading["matmul_fp32_precision"]


def test_transformers_enable_tf32_is_cached_which_is_why_arms_set_torch_flags():
    # The behaviour notebook 04 teaches: a repeated argument is ignored by the lru_cache.
    enable_tf32.cache_clear()
    enable_tf32(False)
    enable_tf32(True)
    enable_tf32(False)
    assert torch.backends.fp32_precision == "tf32"
    assert numerics.ensure(NumericState())["matmul_fp32_precision"] == "ieee"


def test_sdpa_backends_and_determinism_are_set_and_read():
    state = NumericState(sdpa_backends=("flash", "math"), deterministic=True, cudnn_benchmark=True)
    reading = numerics.ensure(state)
    assert reading["sdpa_backends"] == ["flash", "math"]
    assert (
        reading["deterministic_algorithms"] and reading["cudnn_deterministic"] and reading["cudnn_benchmark"]
    )


def test_a_flag_changed_behind_the_arms_back_is_caught():
    state = NumericState()
    numerics.ensure(state)
    torch.backends.cuda.enable_cudnn_sdp(False)
    with pytest.raises(NumericStateError, match="sdpa_backends"):
        numerics.check(state)


def test_autocast_left_on_is_caught():
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(NumericStateError, match="autocast"):
        numerics.check(NumericState())


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown SDPA backend"):
        NumericState(sdpa_backends=("flash", "cudnm"))


def test_trainer_callback_restores_and_records_the_arms_state(tmp_path):
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_bert_config())
    rows = Dataset.from_dict({"input_ids": [[1, 2, 3, 4]] * 4, "label": [0, 1, 0, 1]})
    check = numerics.CheckAtTrainBegin(NumericState())
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=1, use_cpu=True, report_to="none", save_strategy="no"
    )
    numerics.apply(NumericState(tf32=True))  # left over from an earlier arm
    Trainer(model=model, args=args, train_dataset=rows, callbacks=[check]).train()
    assert check.reading["matmul_fp32_precision"] == "ieee"
