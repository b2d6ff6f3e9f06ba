import json
from pathlib import Path

import pytest

from utils import REPO_ROOT


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
