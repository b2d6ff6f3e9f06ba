"""utils.topics.distributed: efficiency over rounds, kernel overlap, the step decomposition, the node's
topology and weight comparisons."""

import pytest
import torch
from safetensors.torch import save_file

from utils.topics import distributed

TOPO = (
    "\t\x1b[4mGPU0\tGPU1\tNIC0\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID\x1b[0m\n"
    "GPU0\t X \tNV18\tSYS\t0-31\t0\t\tN/A\n"
    "GPU1\tNV18\t X \tSYS\t0-31\t0\t\tN/A\n"
    "NIC0\tSYS\tSYS\t X \t\t\t\t\n"
    "\n"
    "Legend:\n"
    "\n"
    "  X    = Self\n"
    "  NV#  = Connection traversing a bonded set of # NVLinks\n"
)


def test_round_seconds_take_the_slowest_rank_of_each_round():
    ranks = [
        {"arms": {"ddp": {"round_seconds": [1.0, 3.0]}}},
        {"arms": {"ddp": {"round_seconds": [2.0, 2.5]}}},
    ]
    assert distributed.round_seconds(ranks, "ddp") == [2.0, 3.0]


def test_efficiency_pairs_rounds_and_refuses_unequal_counts():
    assert distributed.efficiencies([0.10, 0.12], [0.10, 0.15]) == pytest.approx([1.0, 0.8])
    with pytest.raises(ValueError, match="rounds differ"):
        distributed.efficiencies([0.1], [0.1, 0.2])


def test_bus_bandwidth_follows_the_ring_factor():
    assert distributed.bus_bandwidth(1e9, 0.01, 2) == pytest.approx(1e11)
    assert distributed.bus_bandwidth(1e9, 0.01, 4) == pytest.approx(1.5e11)
    assert distributed.bus_bandwidth(1e9, 0.01, 1) == 0


def test_kernel_activity_separates_overlapped_from_exposed_communication():
    kernels = [
        (0.0, 6.0, False),
        (4.0, 10.0, False),  # overlaps the first: computation is busy 0-10
        (12.0, 20.0, False),
        (8.0, 14.0, True),  # 2 us beside computation at 8-10, 2 at 12-14, 2 alone at 10-12
        (25.0, 30.0, True),  # alone: the all-reduce after backward
    ]
    activity = distributed.kernel_activity(kernels, steps=2)
    assert activity["compute_ms"] == pytest.approx(18e-3 / 2)
    assert activity["comm_ms"] == pytest.approx(11e-3 / 2)
    assert activity["overlapped_comm_ms"] == pytest.approx(4e-3 / 2)
    assert activity["exposed_comm_ms"] == pytest.approx(7e-3 / 2)
    assert activity["busy_ms"] == pytest.approx(25e-3 / 2)
    assert activity["kernels_per_step"] == 2.5


def test_step_growth_adds_up_to_the_measured_growth():
    one = distributed.StepSample(
        ddp=0.100, local=0.095, local_backward=0.060, ddp_backward_compute=0.062, comm_after_backward=0.001
    )
    many = distributed.StepSample(
        ddp=0.130, local=0.100, local_backward=0.062, ddp_backward_compute=0.074, comm_after_backward=0.009
    )
    parts = distributed.step_growth(one, many)
    assert parts["concurrency"] == pytest.approx(0.005)
    assert parts["backward_stretch"] == pytest.approx(0.012 - 0.002)
    assert parts["exposed_comm"] == pytest.approx(0.008)
    assert sum(parts.values()) == pytest.approx(many.ddp - one.ddp)
    sentence = distributed.growth_sentence(parts, one, many, 2)
    assert "130.0 ms on 2 devices against 100.0 ms" in sentence and "77% efficiency" in sentence
    assert sentence.index("backward slower") < sentence.index("all-reduce still running")  # largest first


def decomposition(backward_compute, comm_after, local_backward, kernels=None):
    """One rank's ``decompose`` result with round numbers."""
    timers = {"forward": 0.03, "backward_compute": backward_compute, "comm_span": 0.02}
    timers.update(comm_overlapped=0.02 - comm_after, comm_after_backward=comm_after)
    return {
        "ddp": {"phases": {"step": 0.1, "optimizer": 0.01}, "ddp_timers": timers, "kernels": kernels},
        "local": {"phases": {"step": 0.09, "backward": local_backward}, "kernels": kernels},
        "buckets_alone": {"fp32": [0.004, 0.006], "16-bit": [0.002, 0.002]},
    }


def test_step_sample_averages_the_ranks_decompositions():
    ranks = [decomposition(0.07, 0.004, 0.06), decomposition(0.08, 0.002, 0.05)]
    sample = distributed.StepSample.from_results(0.11, 0.1, ranks)
    assert sample.ddp_backward_compute == pytest.approx(0.075)
    assert sample.comm_after_backward == pytest.approx(0.003)
    assert sample.local_backward == pytest.approx(0.055)


def test_step_breakdown_takes_the_slowest_rank_of_collectives():
    ranks = [decomposition(0.07, 0.004, 0.06), decomposition(0.07, 0.004, 0.06)]
    ranks[1]["buckets_alone"]["fp32"] = [0.005, 0.001]
    rows = distributed.step_breakdown(ranks)
    assert rows["DDP buckets all-reduced alone, fp32"] == pytest.approx(5.5)  # median of 5 and 6 ms
    assert rows["  all-reduce after backward (DDP timer)"] == pytest.approx(4.0)
    assert rows["NCCL kernels busy, DDP step"] is None  # no kernels recorded
    kernels = {"compute_ms": 50.0, "comm_ms": 5.0, "overlapped_comm_ms": 4.0, "exposed_comm_ms": 1.0}
    rows = distributed.step_breakdown([decomposition(0.07, 0.004, 0.06, kernels)])
    assert rows["  NCCL with no compute kernel"] == 1.0


def test_gpu_links_read_the_topology_matrix():
    links = distributed.gpu_links(TOPO)
    assert links == {("GPU0", "GPU1"): "NV18", ("GPU1", "GPU0"): "NV18"}
    assert distributed.link_meaning("NV18") == "NVLink (18 bonded links)"
    assert distributed.link_meaning("SYS").startswith("PCIe")
    assert distributed.gpu_links("No devices were found") == {}


def test_topology_is_none_without_nvidia_smi(monkeypatch):
    monkeypatch.setattr(distributed.shutil, "which", lambda name: None)
    assert distributed.topology() is None


def test_weight_difference_measures_the_distance(tmp_path):
    weights = {"a": torch.ones(4), "b": torch.zeros(2)}
    save_file(weights, tmp_path / "one.safetensors")
    save_file(weights, tmp_path / "same.safetensors")
    save_file({"a": torch.tensor([1.0, 1.0, 1.0, 1.5]), "b": torch.zeros(2)}, tmp_path / "other.safetensors")
    same = distributed.weight_difference(tmp_path / "one.safetensors", tmp_path / "same.safetensors")
    assert same == {"relative": 0.0, "max_abs": 0.0, "identical": True, "tensors": 2}
    other = distributed.weight_difference(tmp_path / "other.safetensors", tmp_path / "one.safetensors")
    assert other["relative"] == pytest.approx(0.25) and other["max_abs"] == 0.5 and not other["identical"]
    save_file({"a": torch.ones(4)}, tmp_path / "fewer.safetensors")
    with pytest.raises(ValueError, match="different tensors"):
        distributed.weight_difference(tmp_path / "fewer.safetensors", tmp_path / "one.safetensors")
