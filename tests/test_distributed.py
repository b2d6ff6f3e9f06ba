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


def test_growth_splits_the_step_into_parts_that_add_up_per_round():
    rounds = distributed.ScalingRounds(
        local_one=[0.100, 0.098], ddp_one=[0.115, 0.113], local_many=[0.099, 0.100], ddp_many=[0.120, 0.118]
    )
    parts = rounds.growth()
    assert parts["ddp_own_work"] == pytest.approx([0.015, 0.015])
    assert parts["concurrency"] == pytest.approx([-0.001, 0.002])
    assert parts["communication"] == pytest.approx([0.006, 0.003])
    for index in range(2):  # exact in every round: DDP on N devices against plain training on one
        total = sum(values[index] for values in parts.values())
        assert total == pytest.approx(rounds.ddp_many[index] - rounds.local_one[index])
    assert rounds.efficiency() == pytest.approx([0.100 / 0.120, 0.098 / 0.118])
    sentence = rounds.growth_sentence(2)
    assert "119.0 ms on 2 devices against 99.0 ms of plain training" in sentence
    assert "83% efficiency" in sentence
    assert sentence.index("DDP's own work") < sentence.index("what the other devices add")  # largest first
    assert sentence.index("what the other devices add") < sentence.index("devices busy at once")


def test_scaling_rounds_refuse_unequal_round_counts():
    with pytest.raises(ValueError, match="same number of timing rounds"):
        distributed.ScalingRounds([0.1], [0.1], [0.1, 0.1], [0.1])


def decomposition(backward_compute, comm_after, local_backward, kernels=None):
    """One rank's ``decompose`` result with round numbers."""
    timers = {"forward": 0.03, "backward_compute": backward_compute, "comm_span": 0.02}
    timers.update(comm_overlapped=0.02 - comm_after, comm_after_backward=comm_after)
    return {
        "ddp": {"phases": {"step": 0.1, "optimizer": 0.01}, "ddp_timers": timers, "kernels": kernels},
        "local": {"phases": {"step": 0.09, "backward": local_backward}, "kernels": kernels},
        "buckets_alone": {"fp32": [0.004, 0.006], "16-bit": [0.002, 0.002]},
    }


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


def test_step_breakdown_reads_the_arms_it_is_given():
    rank = decomposition(0.07, 0.004, 0.06)
    rank["ddp_4x_batch"], rank["local_4x_batch"] = decomposition(0.2, 0.001, 0.19)["ddp"], rank.pop("local")
    rank["local"] = decomposition(0.07, 0.004, 0.05)["local"]
    rows = distributed.step_breakdown([rank], "ddp_4x_batch", "local_4x_batch")
    assert rows["  backward computation (DDP timer)"] == pytest.approx(200.0)
    assert rows["  compute-alone backward (phase events)"] == pytest.approx(60.0)


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
