"""Whether a hub model can be had before transformers is asked for it: from the local cache, or from a hub
that answers. Unchecked, a model that is not cached costs about a minute of retried requests when there is
no network, and with `HF_HUB_OFFLINE` set the error does not say that the setting is why."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from polyedit.errors import PolyeditError

PROBE_TIMEOUT_S = 5.0


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE), as huggingface_hub reads it."""
    return _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))


def endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def cached(repo_id: str, revision: str | None = None) -> bool:
    """Whether the model's config.json is in the local hub cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json", revision=revision), str)
    except Exception:  # an id the hub library refuses: transformers gives its own error
        return False


def reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None if a TCP connection to `url`'s host opens within `timeout`, else why not."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "", port), timeout=timeout).close()
    except OSError as e:
        return e.strerror or str(e) or type(e).__name__
    return None


def local_only(repo_id: str, revision: str | None = None) -> bool:
    """Whether `repo_id` must be loaded from the cache alone (offline, or the hub unreachable); raises one
    line when it is not cached then."""
    if offline():
        if not cached(repo_id, revision):
            raise PolyeditError(f"cannot load model {repo_id!r}: it is not in the local hub cache and HF_HUB_OFFLINE "
                                f"is set (unset it to download, or pass a local folder)")
        return True
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return False  # through a proxy a direct connection proves nothing: huggingface_hub finds its own way
    why = reachable(endpoint())
    if why is None:
        return False
    if not cached(repo_id, revision):
        raise PolyeditError(f"cannot load model {repo_id!r}: it is not in the local hub cache and the hub "
                            f"{endpoint()} cannot be reached ({why}); pass a local folder, or set HF_HUB_OFFLINE=1 "
                            f"to use the cache only")
    return True
