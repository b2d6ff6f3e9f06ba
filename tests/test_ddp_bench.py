"""utils.programs.ddp_bench: the launcher's pieces, and real torchrun launches on CPU with gloo."""

import json

import pytest

from utils.programs import ddp_bench

TINY = ddp_bench.BenchConfig(
    shape_overrides={
        "num_hidden_layers": 1,
        "vocab_size": 256,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 2,
    },
    batch=4,
    seq_len=8,
    steps=1,
    warmup=0,
    variants=list(ddp_bench.VARIANTS),
    accum_steps=2,
    small_overrides={
        "num_hidden_layers": 1,
        "vocab_size": 256,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 2,
    },
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


def test_child_env_keeps_the_parents_settings_and_turns_nvls_off(monkeypatch):
    monkeypatch.setenv("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
    monkeypatch.setenv("NCCL_NVLS_ENABLE", "1")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    env = ddp_bench.child_env()
    assert env["TORCH_SYMM_MEM_DISABLE_MULTICAST"] == "1"
    assert env["NCCL_NVLS_ENABLE"] == "0"
    assert env["PYTHONPATH"] == "/somewhere"


def test_command_runs_the_module_under_torchrun(tmp_path):
    config = ddp_bench.BenchConfig(batch=3, variants=["ddp", "find_unused"])
    cmd = ddp_bench.command(4, tmp_path, ["sampler", "fsdp"], config)
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4"]
    assert cmd[cmd.index("--tasks") + 1] == "sampler,fsdp"
    assert ddp_bench.BenchConfig(**json.loads(cmd[cmd.index("--config") + 1])) == config


def test_rank_log_lines_counts_own_prefix_only():
    output = "[rank 0/2] a\n[rank0]:[W reducer.cpp] warning\n[rank 1/2] b\n[rank 0/2] c\nother"
    assert ddp_bench.rank_log_lines(output) == {"0": 2, "1": 1}


def test_unknown_task_is_rejected_before_any_process_group(tmp_path):
    with pytest.raises(SystemExit):
        ddp_bench.main(["--out", str(tmp_path), "--tasks", "sampler,warp_drive"])


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    tasks = [task for task in ddp_bench.TASKS if task != "ddp_large"]  # all but the out-of-memory probe
    return ddp_bench.launch(2, tasks, TINY, tmp_path_factory.mktemp("ws2"), timeout=300)


def test_every_rank_reports_every_task(two_processes):
    assert [rank["rank"] for rank in two_processes.ranks] == [0, 1]
    assert all(rank["backend"] == "gloo" and rank["world_size"] == 2 for rank in two_processes.ranks)
    assert len(two_processes.task("fsdp")) == 2
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


def test_throughput_variants_are_all_timed(two_processes):
    for result in two_processes.task("throughput"):
        assert set(result) - {"task_seconds"} == set(ddp_bench.VARIANTS)
        assert result["accum_no_sync"]["micro_batch"] == TINY.batch // TINY.accum_steps
        assert all(result[v]["seconds_per_step"] > 0 for v in ddp_bench.VARIANTS)


def test_failed_launch_reports_the_error(tmp_path):
    broken = ddp_bench.BenchConfig(shape="no-such-shape", variants=["ddp"])
    launch = ddp_bench.launch(1, ["sampler", "throughput"], broken, tmp_path, timeout=120, check=False)
    assert launch.error and "no-such-shape" in launch.error
    assert "sampler" in launch.ranks[0]["tasks"] and "throughput" not in launch.ranks[0]["tasks"]
