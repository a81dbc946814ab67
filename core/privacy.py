"""Privacy defaults: third-party telemetry off, and the egress policy for LLM endpoints."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from urllib.parse import urlparse

from core.errors import ConfigError, EgressRefused

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOSTNAME = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")

# Every library in the stack phones home unless told not to (stack-notes §4). These are
# forced, not defaulted: zero unexpected egress is a product promise, so a stray shell
# variable must not turn telemetry back on.
TELEMETRY_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "DEEPEVAL_TELEMETRY_OPT_OUT": "1",
    "DEEPEVAL_DISABLE_DOTENV": "1",
    "DEEPEVAL_UPDATE_WARNING_OPT_IN": "0",
    "ANONYMIZED_TELEMETRY": "False",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}


# Not telemetry: Gradio's in-process queue analytics rebuild a pandas summary of up to
# 10,000 past events after every event (13-15 ms of CPU each, measured), the largest part
# of an arena vote's server time under load. Defaulted, not forced: recomputed every 500.
GRADIO_QUEUE_ENV: dict[str, str] = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "500"}


def disable_telemetry() -> None:
    """Switch off the telemetry of every dependency; call before importing them."""
    os.environ.update(TELEMETRY_ENV)
    for key, value in GRADIO_QUEUE_ENV.items():
        os.environ.setdefault(key, value)


def _allowlist(entries: Sequence[str]) -> tuple[list[IPNetwork], set[str]]:
    """Split the owner's `local_allow` into networks and exact host names; bad entries are named."""
    nets: list[IPNetwork] = []
    names: set[str] = set()
    for raw in entries:
        entry = str(raw).strip().lower().rstrip(".")
        try:
            nets.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if not _HOSTNAME.fullmatch(entry):
            raise ConfigError(f"local_allow entry {raw!r} is neither an IP address, a CIDR range (10.0.0.0/24) "
                              "nor a host name")
        names.add(entry)
    return nets, names


def is_allowed_host(host: str, allow: Sequence[str] = ()) -> bool:
    """Tell whether `local_only` lets idiolect talk to `host`: loopback or the owner's allowlist.

    Decided on the text alone, never by resolving it: a name the owner did not list is
    refused before any DNS query could leak it or resolve it somewhere unexpected.
    """
    h = (host or "").strip().lower().strip("[]").rstrip(".")
    if not h:
        return False
    nets, names = _allowlist(allow)
    if h in ("localhost", "localhost.localdomain") or h in names:
        return True
    try:
        addr = ipaddress.ip_address(h.split("%")[0])
    except ValueError:
        return False  # a name not on the list (also "2130706433"-style numbers the OS would resolve)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback or any(addr in n for n in nets)


def check_endpoint(url: str, *, local_only: bool, allow: Sequence[str] = ()) -> None:
    """Refuse `url` when `local_only` is set and its host is neither loopback nor in `allow`.

    Raises:
        EgressRefused: the endpoint is outside loopback and the allowlist.
        ConfigError: an allowlist entry is malformed.

    """
    if not local_only:
        return
    _allowlist(allow)  # a malformed allowlist is a configuration error whatever the URL
    host = _host_of(url)
    if host is None or not is_allowed_host(host, allow):
        raise EgressRefused(
            f"local_only is set, so idiolect will not send data to {url!r}: only loopback and the hosts or "
            "ranges in local_allow are allowed. Add this host to local_allow (IDIOLECT_LOCAL_ALLOW) if it is "
            "yours, or unset local_only"
        )


def _host_of(url: str) -> str | None:
    """Return the host the HTTP clients would connect to; None when parsers disagree (a smuggling attempt)."""
    import httpx

    try:
        ours = urlparse(url).hostname
        theirs = httpx.URL(url).host
    except (ValueError, httpx.InvalidURL):
        return None
    if not ours or (ours.strip("[]").lower() != theirs.strip("[]").lower()):
        return None
    return ours


def private_upload_dir(path: os.PathLike[str] | str) -> None:
    """Point Gradio's upload cache inside the owner-only data dir (uploads hold unscrubbed text)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = os.fspath(path)
