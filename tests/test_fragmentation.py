from utils.programs import fragmentation

TINY = dict(shape="MiniLM-L6", batch_size=2, max_length=16, min_length=4, steps=3, seed=1)


def test_fixed_lengths_stay_fixed_and_varying_ones_vary_reproducibly():
    args = fragmentation.parse_args(["--max-length", "64", "--min-length", "8", "--steps", "20"])
    assert fragmentation.sequence_lengths("fixed", args) == [64] * 20
    varying = fragmentation.sequence_lengths("varying", args)
    assert varying == fragmentation.sequence_lengths("varying", args)
    assert len(set(varying)) > 5 and all(8 <= n <= 64 for n in varying)


def test_a_fresh_process_gets_exactly_the_allocator_setting_asked_for(monkeypatch):
    monkeypatch.setenv("PYTORCH_ALLOC_CONF", "garbage_collection_threshold:0.5")
    result = fragmentation.run_in_process("expandable_segments:True", **TINY)
    assert result["allocator_settings"] == {
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
        "PYTORCH_ALLOC_CONF": None,
    }
    assert result["fixed"]["lengths"] == [16] * 3 and len(result["varying"]["lengths"]) == 3
    assert result["fixed"]["allocator"] is None  # no CUDA allocator on a CPU
