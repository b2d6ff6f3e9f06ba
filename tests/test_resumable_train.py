import os
import shutil

import torch
from tiny_models import tiny_run_arguments

from utils.programs import resumable_train

TINY = tiny_run_arguments(4)


def test_weights_hash_sees_one_changed_value():
    model = torch.nn.Linear(3, 2)
    before = resumable_train.weights_sha256(model)
    assert resumable_train.weights_sha256(model) == before
    with torch.no_grad():
        model.weight[0, 0] = torch.nextafter(model.weight[0, 0], torch.tensor(1.0))
    assert resumable_train.weights_sha256(model) != before


def test_arguments_default_to_a_plain_run(tmp_path):
    args = resumable_train.parse_args(["--output-dir", str(tmp_path)])
    assert (args.save_steps, args.resume, args.hold_at_step, args.repeats) == (0, False, None, 1)
    assert not (args.deterministic or args.launch_blocking or args.tensorboard)


def test_resuming_from_a_checkpoint_ends_where_the_uninterrupted_run_ended(tmp_path):
    run_dir = tmp_path / "run"
    full = resumable_train.main(["--output-dir", str(run_dir), "--save-steps", "2", *TINY])["runs"][0]
    assert full["global_step"] == 4 and full["resumed_from"] is None
    shutil.rmtree(run_dir / "checkpoint-4")  # as if the process had died between steps 2 and 4
    resumed = resumable_train.main(["--output-dir", str(run_dir), "--save-steps", "2", "--resume", *TINY])[
        "runs"
    ][0]
    assert resumed["resumed_from"] == "checkpoint-2"
    assert resumed["weights_sha256"] == full["weights_sha256"]
    assert resumed["eval_loss"] == full["eval_loss"]
    assert (run_dir / resumable_train.RESULT_FILE).is_file()


def test_step_time_leaves_out_the_first_steps():
    warm = [5.0] * resumable_train.TIMING_WARMUP_STEPS
    assert resumable_train.steady_step_seconds([*warm, 1.0, 2.0, 3.0]) == 2.0
    assert resumable_train.steady_step_seconds([4.0, 6.0]) == 5.0  # a short run: every step


def test_process_settings_are_made_before_cuda_starts(tmp_path, monkeypatch):
    from utils import numerics

    for name in ("CUBLAS_WORKSPACE_CONFIG", "CUDA_LAUNCH_BLOCKING"):
        monkeypatch.delenv(name, raising=False)
    args = resumable_train.parse_args(["--output-dir", str(tmp_path), "--deterministic", "--launch-blocking"])
    try:
        state = resumable_train.prepare_process(args)
        assert numerics.read()["deterministic_algorithms"] and state.deterministic
    finally:
        numerics.ensure(numerics.NumericState())
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == resumable_train.CUBLAS_WORKSPACE
    assert os.environ["CUDA_LAUNCH_BLOCKING"] == "1"
