"""Helpers shared by the notebooks: data, models, measurement, environment capture, results and the runner.

``utils`` lives in this repository and is not published with the ``bplint`` distribution; the
development environment (``make setup``) puts the repository root on ``sys.path``.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
