"""LoRA helpers: run selection, merging, latency, adapters saved with their base."""

import pandas as pd
import pytest
import torch
from peft import PeftModel
from tiny_models import tiny_bert_config
from transformers import BertForSequenceClassification

from utils.topics import integrity, lora


def tiny_classifier(seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_bert_config()).eval()


def inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 100, (3, 8), generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def trained_adapter(model) -> None:
    """Give every LoRA B matrix non-zero values, as training would (peft starts them at zero)."""
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator))


def test_lora_freezes_the_encoder_and_trains_adapters_and_head():
    model = lora.lora_model(tiny_classifier(), r=4, alpha=8, targets=["query", "value"])
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name or "classifier" in name for name in trainable)
    assert any("classifier" in name for name in trainable)
    counts = lora.parameter_counts(model)
    layers, hidden, rank, labels = 1, 16, 4, 2
    adapters = layers * 2 * (hidden * rank + rank * hidden)  # query and value: A (r x in) and B (out x r)
    assert counts["trainable"] == adapters + hidden * labels + labels


def test_without_task_type_the_head_is_frozen():
    model = lora.lora_model(tiny_classifier(), r=4, targets=["query", "value"], task_type=None)
    assert not any(p.requires_grad for name, p in model.named_parameters() if "classifier" in name)


def test_best_runs_takes_the_highest_metric_per_group_and_the_first_of_ties():
    runs = pd.DataFrame(
        {
            "method": ["a", "a", "a", "b", "b"],
            "seed": [1, 1, 1, 1, 1],
            "learning rate": [1e-4, 1e-3, 1e-2, 1e-4, 1e-3],
            "validation accuracy": [0.5, 0.9, 0.9, 0.7, 0.6],
        }
    )
    best = lora.best_runs(runs, by=["method", "seed"]).set_index("method")
    assert best.loc["a", "learning rate"] == 1e-3
    assert best.loc["b", "learning rate"] == 1e-4


def test_at_edge_names_best_rates_at_either_end_of_the_sweep():
    best = pd.DataFrame(
        {"method": ["full", "full", "LoRA"], "seed": [1, 2, 1], "learning rate": [1e-4, 3e-4, 1e-2]}
    )
    assert lora.at_edge(best, [1e-4, 3e-4, 1e-3, 1e-2], label="method") == ["full (seed 1)", "LoRA (seed 1)"]
    assert lora.at_edge(best, [3e-5, 1e-4, 3e-4, 1e-2, 3e-2], label="method") == []


def test_collapse_note_names_collapsed_runs_only():
    runs = pd.DataFrame(
        {
            "variant": ["all linear", "all linear", "query/value"],
            "seed": [1, 2, 1],
            "learning rate": [1e-2, 3e-3, 1e-2],
            "test accuracy": [0.2, 0.3, 0.85],
            "collapsed": [True, True, False],
        }
    )
    note = lora.collapse_note(runs, label="variant")
    assert "all linear (seed 1 at 0.01, seed 2 at 0.003; test accuracy 0.250)" in note
    assert "query/value" not in note
    assert lora.collapse_note(runs[~runs["collapsed"]], label="variant") == ""


def test_decades_and_steps():
    assert lora.decades_from(100, 10) == pytest.approx(1)
    assert lora.decades_from(1, 10) == pytest.approx(1)
    assert lora.decades_from(10, 10) == 0
    with pytest.raises(ValueError):
        lora.decades_from(0, 10)
    assert lora.steps_in(10.0, 0.3) == 33
    assert lora.steps_in(0.1, 1.0) == 1
    with pytest.raises(ValueError):
        lora.steps_in(1.0, 0)


def test_merging_keeps_the_logits_and_leaves_the_original_unmerged():
    model = lora.lora_model(tiny_classifier(), r=4, alpha=8, targets=["query", "value"], dropout=0.0)
    trained_adapter(model)
    unmerged = lora.logits(model, inputs())
    merged = lora.merged_copy(model)
    assert not isinstance(merged, PeftModel)
    assert not any("lora_" in name for name, _ in merged.named_parameters())
    assert lora.relative_difference(lora.logits(merged, inputs()), unmerged) < 1e-5
    assert isinstance(model, PeftModel) and any("lora_" in name for name, _ in model.named_parameters())
    base = lora.logits(tiny_classifier(), inputs())
    assert lora.relative_difference(unmerged, base) > 1e-3  # the adapter changed the model


def test_relative_difference():
    reference = torch.tensor([1.0, -4.0])
    assert lora.relative_difference(torch.tensor([1.0, -3.0]), reference) == pytest.approx(0.25)
    assert lora.relative_difference(reference, reference) == 0


def test_forward_seconds_times_each_round():
    model = tiny_classifier()
    times = lora.forward_seconds(model, inputs(), repeats=3, calls=2, warmup=1)
    assert len(times) == 3 and all(t > 0 for t in times)
    with pytest.raises(ValueError):
        lora.forward_seconds(model, inputs(), repeats=0)


@pytest.fixture
def base_folder(tmp_path):
    folder = tmp_path / "base"
    tiny_classifier().save_pretrained(folder)
    return folder


def test_an_adapter_round_trips_onto_its_pinned_base(base_folder, tmp_path):
    model = lora.lora_model(
        BertForSequenceClassification.from_pretrained(base_folder), r=4, targets=["query", "value"]
    )
    trained_adapter(model)
    files = lora.save_adapter(model, tmp_path / "adapter", base_folder)
    assert "adapter_model.safetensors" in files and lora.BASE_MANIFEST in files
    assert sum(files.values()) < lora.folder_bytes(base_folder)
    torch.manual_seed(123)  # another random state: the head the base lacks is initialised differently
    loaded = lora.load_adapter(
        BertForSequenceClassification.from_pretrained(base_folder), tmp_path / "adapter", base_folder
    )
    assert lora.relative_difference(lora.logits(loaded, inputs()), lora.logits(model, inputs())) == 0


def test_loading_onto_another_base_is_refused(base_folder, tmp_path):
    model = lora.lora_model(
        BertForSequenceClassification.from_pretrained(base_folder), r=4, targets=["query", "value"]
    )
    lora.save_adapter(model, tmp_path / "adapter", base_folder)
    other = tmp_path / "other"
    tiny_classifier(seed=7).save_pretrained(other)
    with pytest.raises(integrity.IntegrityError):
        lora.load_adapter(BertForSequenceClassification.from_pretrained(other), tmp_path / "adapter", other)
