"""One notebook's execution in a process of its own: ``python -m utils.run.worker SPEC.json``.

The runner starts one such process per notebook. Its standard output and error, which the kernel
and the kernel's own subprocesses inherit, go to ``<run>/<notebook>/execution.log``: kernel warnings,
profiler logs and native messages stay out of the run's output but remain at hand; progress lines
still reach the runner's output. The outcome is written as JSON to the spec's
``outcome`` path. The first Ctrl-C stops the notebook and marks it partial; repeats are ignored
while that happens.
"""

import json
import os
import signal
import sys
from pathlib import Path

from utils.run.execution import execute


def _interrupt_once() -> None:
    """The first SIGINT stops the notebook; later ones would break the saving of its partial outputs.
    A SIGINT ignored from the start (a run under nohup) stays ignored."""

    def handler(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, handler)


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    notebook, run_dir = Path(spec["notebook"]), Path(spec["run_dir"])
    log = run_dir / notebook.stem / "execution.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # Progress goes to the runner's output; everything else the kernel writes, to the log.
    progress = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    with log.open("ab") as file:
        os.dup2(file.fileno(), sys.stdout.fileno())
        os.dup2(file.fileno(), sys.stderr.fileno())
    _interrupt_once()
    outcome = execute(notebook, run_dir, spec["parameters"], spec["kernel"], spec["progress"], progress)
    Path(spec["outcome"]).write_text(json.dumps(outcome.to_json()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
