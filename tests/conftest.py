import json
from pathlib import Path

import pytest
import suite_run

from utils import REPO_ROOT

SUITE_RUN = pytest.StashKey[suite_run.BackgroundRun]()


def pytest_collection_finish(session):
    """Start the notebook suite's one execution as soon as the tests are known: the unit tests then
    run while the notebooks execute, and tests/test_notebook_suite.py waits for it."""
    if session.config.option.collectonly:
        return
    stems = suite_run.selected_stems(session)
    if stems:
        session.config.stash[SUITE_RUN] = suite_run.BackgroundRun(stems)


def pytest_sessionfinish(session):
    background = session.config.stash.get(SUITE_RUN, None)
    if background is not None:
        background.stop()


@pytest.fixture(scope="session")
def notebook_suite(request) -> suite_run.SuiteRun:
    """The suite's execution, once it has finished (started at collection, see above)."""
    background = request.config.stash.get(SUITE_RUN, None)
    if background is None:  # a session that did not select the notebook tests at collection
        background = request.config.stash[SUITE_RUN] = suite_run.BackgroundRun(
            [nb.stem for nb in suite_run.NOTEBOOKS]
        )
    return background.wait(lambda line: suite_run.say(request.config, line))


@pytest.fixture
def squad_file(tmp_path: Path) -> Path:
    """A two-question SQuAD-format file; the second question has two reference answers."""
    context = "The Eiffel Tower was completed in 1889. It stands in Paris, the capital of France."
    document = {
        "version": "1.1",
        "data": [
            {
                "title": "Eiffel_Tower",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "When was the Eiffel Tower completed?",
                                "answers": [{"text": "1889", "answer_start": context.index("1889")}],
                            },
                            {
                                "id": "q2",
                                "question": "Where does the tower stand?",
                                "answers": [
                                    {"text": "Paris", "answer_start": context.index("Paris")},
                                    {"text": "in Paris", "answer_start": context.index("in Paris")},
                                ],
                            },
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
