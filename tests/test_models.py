import pytest
import torch
from transformers import AutoModelForSequenceClassification

from utils import hub, models

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_default_model_dir_is_packaged_minilm(monkeypatch):
    monkeypatch.delenv(models.MODEL_DIR_ENV, raising=False)
    assert (models.default_model_dir() / "model.safetensors").is_file()


def test_model_dir_environment_wins(monkeypatch, tmp_path):
    monkeypatch.setenv(models.MODEL_DIR_ENV, str(tmp_path))
    assert models.resolve_source() == (str(tmp_path), None)


def test_local_folder_is_not_a_hub_id(tmp_path):
    assert models.resolve_source(str(tmp_path), "main") == (str(tmp_path), None)


@pytest.mark.parametrize("revision", [None, "main", "v1.0", "0123456"])
def test_hub_id_needs_a_full_commit(revision):
    with pytest.raises(ValueError, match="full 40-character commit"):
        models.resolve_source("bert-base-uncased", revision)


def test_hub_id_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.HubUnavailableError, match="BP_MODEL_DIR"):
        models.resolve_source("bert-base-uncased", COMMIT)


def test_packaged_model_loads_in_the_requested_dtype():
    model = models.load_model(AutoModelForSequenceClassification, num_labels=5)
    assert next(model.parameters()).dtype == torch.float32
    assert models.count_parameters(model) == 22_715_141
    tokenizer = models.load_tokenizer()
    assert tokenizer("hello world")["input_ids"][0] == tokenizer.cls_token_id


def test_bert_shapes():
    config = models.bert_config("BERT-base", num_labels=3)
    assert (config.hidden_size, config.num_hidden_layers, config.num_labels) == (768, 12, 3)
    with pytest.raises(ValueError, match="unknown shape 'BERT-huge'"):
        models.bert_config("BERT-huge")


def test_count_trainable_parameters():
    layer = torch.nn.Linear(4, 2)
    layer.bias.requires_grad_(False)
    assert models.count_parameters(layer) == 10
    assert models.count_parameters(layer, trainable_only=True) == 8
