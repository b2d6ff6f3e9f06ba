"""Programs that notebooks start as processes of their own (``python -m utils.programs.NAME``):
torchrun workers of the distributed benchmarks, and a training run that is killed and resumed."""
