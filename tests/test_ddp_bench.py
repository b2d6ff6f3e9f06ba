"""utils.programs.ddp_bench: the launchers' pieces, and real torchrun launches on CPU with gloo: one
machine with two processes, and two "nodes" of one process each joined by a c10d rendezvous."""

import json

import pytest
import torch

from tests.tiny_models import TINY_BERT
from utils.programs import ddp_bench
from utils.topics import distributed

BERT = {key: value for key, value in TINY_BERT.items() if key != "num_labels"}
TINY = ddp_bench.BenchConfig(
    shape_overrides=BERT,
    batch=4,
    seq_len=8,
    arms=list(ddp_bench.ARMS),
    rounds=2,
    steps=1,
    warmup=1,
    process_warmup=1,
    accum_steps=2,
    profile_steps=2,
    sweep_mb=[0.0625, 0.25],
    comm_repeats=2,
    small_overrides=BERT,
    replica_steps=3,
    llama=dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=128,
    ),
    llama_seq_len=8,
    llama_steps=1,
    llama_warmup=0,
    timeout_s=60,
)


def test_powers_of_two_cover_the_gpus_present():
    assert ddp_bench.powers_of_two(0) == [1]
    assert ddp_bench.powers_of_two(1) == [1]
    assert ddp_bench.powers_of_two(4) == [1, 2, 4]
    assert ddp_bench.powers_of_two(6) == [1, 2, 4]
    assert ddp_bench.powers_of_two(8) == [1, 2, 4, 8]


def test_child_env_keeps_the_parents_settings_and_turns_multicast_off(monkeypatch):
    monkeypatch.setenv("TORCH_SYMM_MEM_DISABLE_MULTICAST", "0")
    monkeypatch.setenv("NCCL_NVLS_ENABLE", "1")
    monkeypatch.delenv("NVSHMEM_DISABLE_NVLS", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    env = ddp_bench.child_env()
    assert env["NCCL_NVLS_ENABLE"] == "0"
    assert env["TORCH_SYMM_MEM_DISABLE_MULTICAST"] == "1"
    assert env["NVSHMEM_DISABLE_NVLS"] == "1"
    assert env["PYTHONPATH"] == "/somewhere"


def test_command_runs_the_module_under_torchrun(tmp_path):
    config = ddp_bench.BenchConfig(batch=3, arms=["ddp", "find_unused"])
    cmd = ddp_bench.command(4, tmp_path, ["sampler", "fsdp"], config)
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4"]
    assert cmd[cmd.index("--tasks") + 1] == "sampler,fsdp"
    assert ddp_bench.BenchConfig(**json.loads(cmd[cmd.index("--config") + 1])) == config


def test_node_commands_differ_only_in_node_rank(tmp_path):
    first, second = (
        ddp_bench.node_command(rank, 2, 4, "10.0.0.1:29400", "job", tmp_path, ["replica"], TINY)
        for rank in (0, 1)
    )
    assert "--standalone" not in first
    assert {
        "--nnodes=2",
        "--nproc-per-node=4",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=10.0.0.1:29400",
    } <= set(first)
    assert [a for a in first if a != "--node-rank=0"] == [a for a in second if a != "--node-rank=1"]


def test_nodes_get_no_devices_without_a_gpu():
    assert ddp_bench.node_devices(2, 1) == [None, None]


def test_unknown_arm_and_task_are_rejected_before_any_process_group(tmp_path):
    with pytest.raises(ValueError, match="warp_drive"):
        ddp_bench.BenchConfig(arms=["ddp", "warp_drive"])
    with pytest.raises(SystemExit):
        ddp_bench.main(["--out", str(tmp_path), "--tasks", "sampler,warp_drive"])


def test_rank_log_lines_counts_own_prefix_only():
    output = "[rank 0/2] a\n[rank0]:[W reducer.cpp] warning\n[rank 1/2] b\n[rank 0/2] c\nother"
    assert ddp_bench.rank_log_lines(output) == {"0": 2, "1": 1}


@pytest.fixture
def one_process_group(tmp_path):
    """This test process as a gloo group of one, for the process-side pieces."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield ddp_bench.Context(0, 1, 0, torch.device("cpu"), TINY, tmp_path)
    dist.destroy_process_group()


def test_an_arm_that_fails_to_start_is_skipped_and_the_next_one_runs(one_process_group):
    bench = ddp_bench._BertBench(one_process_group)
    capped = ddp_bench.Arm(nccl_max_ctas=8)  # no NCCL communicator in a gloo group
    assert bench.try_wrap(capped)
    assert bench.wrapped is None
    assert bench.try_wrap(ddp_bench.ARMS["ddp"]) is None
    bench.step(ddp_bench.ARMS["ddp"])
    bench.unwrap()
    assert all(p.grad is None for p in bench.model.parameters())


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    tasks = [task for task in ddp_bench.TASKS if task != "ddp_large"]  # all but the out-of-memory probe
    return ddp_bench.launch(2, tasks, TINY, tmp_path_factory.mktemp("ws2"), timeout=300)


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    return ddp_bench.launch_nodes(2, 1, ["replica"], TINY, tmp_path_factory.mktemp("nodes"), timeout=300)


def test_every_rank_reports_every_task(two_processes):
    assert [rank["rank"] for rank in two_processes.ranks] == [0, 1]
    assert all(rank["backend"] == "gloo" and rank["world_size"] == 2 for rank in two_processes.ranks)
    assert all(set(rank["tasks"]) == set(ddp_bench.TASKS) - {"ddp_large"} for rank in two_processes.ranks)
    assert all(not result["oom"] and result["seconds_per_step"] > 0 for result in two_processes.task("fsdp"))


def test_sampler_shards_are_disjoint_and_reshuffled_only_with_set_epoch(two_processes):
    first, second = two_processes.task("sampler")
    for epoch in range(TINY.epochs):
        assert sorted(first["set_epoch"][epoch] + second["set_epoch"][epoch]) == list(
            range(TINY.dataset_size)
        )
    assert first["set_epoch"][0] != first["set_epoch"][1]
    assert first["no_set_epoch"][0] == first["no_set_epoch"][1] == first["no_set_epoch"][2]


def test_ddp_broadcasts_rank0_weights_and_seeds_differ(two_processes):
    first, second = two_processes.task("seeding")
    assert first["seed"] != second["seed"]
    assert first["checksum_before_ddp"] != second["checksum_before_ddp"]
    assert first["checksum_after_ddp"] == second["checksum_after_ddp"] == first["checksum_before_ddp"]


def test_no_sync_accumulation_matches_the_global_batch(two_processes):
    for result in two_processes.task("equivalence"):
        assert result["global_batch"] == TINY.small_batch * TINY.accum_steps * 2
        assert result["relative_difference"] < 1e-5
        assert result["numeric_state"]["matmul_fp32_precision"] == "ieee"


def test_only_rank0_logs_and_saves(two_processes):
    results = two_processes.task("checkpoint")
    assert [r["wrote_checkpoint"] for r in results] == [True, False]
    assert all(r["checkpoint_matches_own_weights"] for r in results)
    assert set(ddp_bench.rank_log_lines(two_processes.output)) == {"0"}


def test_trainer_arguments_are_per_process(two_processes):
    for index, result in enumerate(two_processes.task("trainer_args")):
        assert result["process_index"] == index
        assert result["world_size"] == 2 and result["n_gpu"] == 0
        assert result["train_batch_size"] == TINY.batch
        assert result["global_batch"] == TINY.batch * 2 * TINY.accum_steps
        assert result["has_distributed_type_argument"] is False


def test_unused_parameter_needs_the_flag(two_processes):
    for result in two_processes.task("unused"):
        assert result["find_unused_True"] == "ok"
        assert "find_unused_parameters" in result["find_unused_False"]


def test_every_arm_is_timed_in_every_round_or_skipped_with_a_reason(two_processes):
    for result in two_processes.task("throughput"):
        assert set(result["arms"]) | set(result["skipped"]) == set(ddp_bench.ARMS)
        assert set(result["skipped"]) == {"nccl_8_ctas"}  # an NCCL setting: gloo has no such cap
        for name, arm in result["arms"].items():
            assert len(arm["round_seconds"]) == TINY.rounds, name
            assert len(arm["step_seconds"]) == TINY.rounds * TINY.steps, name
        assert result["arms"]["ddp_4x_batch"]["per_device_batch"] == 4 * TINY.batch
        assert result["arms"]["accum_no_sync"]["accum_steps"] == TINY.accum_steps


def test_decomposition_covers_every_gradient_and_both_arms(two_processes):
    parameters = two_processes.task("throughput")[0]["parameters"]
    for result in two_processes.task("decompose"):
        assert sum(result["bucket_bytes"]) == 4 * parameters  # every fp32 gradient in some bucket
        for name in ddp_bench.DECOMPOSED_ARMS:
            phases = result[name]["phases"]
            assert phases["step"] == pytest.approx(
                phases["forward"] + phases["backward"] + phases["optimizer"]
            )
            assert result[name]["kernels"] is None  # no device kernels on a CPU
        for ddp, local in (("ddp", "local"), ("ddp_4x_batch", "local_4x_batch")):
            timers = result[ddp]["ddp_timers"]
            assert timers["backward_compute"] > 0 and timers["comm_span"] > 0
            assert timers["comm_after_backward"] == pytest.approx(
                max(0.0, timers["comm_span"] - timers["comm_overlapped"])
            )
            assert "ddp_timers" not in result[local]
        assert all(len(times) == TINY.comm_repeats for times in result["buckets_alone"].values())


def test_interconnect_times_every_message_size(two_processes):
    for result in two_processes.task("interconnect"):
        assert [size["bytes"] for size in result["sizes"]] == [int(mb * 2**20) for mb in TINY.sweep_mb]
        assert all(len(size["seconds"]) == TINY.comm_repeats for size in result["sizes"])


def test_two_nodes_train_to_the_weights_of_one_node(two_processes, two_nodes):
    launches = [result["launch"] for result in two_nodes.task("replica")]
    assert sorted(launch["ddp_bench_node"] for launch in launches) == ["0", "1"]
    assert sorted(launch["group_rank"] for launch in launches) == ["0", "1"]
    assert all(launch["local_world_size"] == "1" for launch in launches)
    losses = two_nodes.task("replica")[0]["losses"]
    assert losses == two_processes.task("replica")[0]["losses"] and len(set(losses)) == len(losses)
    difference = distributed.weight_difference(
        two_nodes.out / ddp_bench.REPLICA_WEIGHTS, two_processes.out / ddp_bench.REPLICA_WEIGHTS
    )
    assert difference["identical"] and difference["relative"] == 0.0


def test_failed_launch_reports_the_error(tmp_path):
    broken = ddp_bench.BenchConfig(shape="no-such-shape", arms=["ddp"])
    launch = ddp_bench.launch(1, ["sampler", "throughput"], broken, tmp_path, timeout=120, check=False)
    assert launch.error and "no-such-shape" in launch.error
    assert "sampler" in launch.ranks[0]["tasks"] and "throughput" not in launch.ranks[0]["tasks"]
