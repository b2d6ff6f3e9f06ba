"""Access to the Hugging Face Hub that fails fast, with a useful message, when it cannot be reached."""

import os
import socket
from urllib.parse import urlparse

OFFLINE_HINT = (
    "Offline, use the packaged defaults: utils.data.load_bbc_news() for text classification, "
    "utils.data.load_squad() for extractive QA, and utils.models with no model name (the packaged "
    "all-MiniLM-L6-v2, or the folder in BP_MODEL_DIR)."
)


class HubUnavailableError(RuntimeError):
    """The Hub is switched off (``HF_HUB_OFFLINE``) or unreachable, so a hub name cannot be loaded."""


def _offline_flag() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def ensure_reachable(name: str, timeout: float = 3.0) -> None:
    """Raise :class:`HubUnavailableError` at once when ``name`` cannot be fetched from the Hub.

    Without this check an offline machine spends tens of seconds in the hub client's retries
    before failing with a message that does not say what to use instead.
    """
    if _offline_flag():
        raise HubUnavailableError(f"{name!r} is a Hub name, but HF_HUB_OFFLINE is set. {OFFLINE_HINT}")
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError as error:
        raise HubUnavailableError(
            f"{name!r} is a Hub name, but {endpoint.hostname} cannot be reached ({error}). {OFFLINE_HINT}"
        ) from None
