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
