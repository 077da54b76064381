"""Who may open the page: anyone on this machine by default; with a token beyond loopback.

Bound to 127.0.0.1 (the default) only local users reach the server. With ``--host``
naming another interface, anyone on that network could restore and write files as
the user who started it, so every request must then carry the token printed in the
URL (``?token=...``); the page remembers it in a cookie, which the websocket that
follows sends back.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

#: Query argument and cookie that carry the token.
TOKEN_ARGUMENT = "token"
TOKEN_COOKIE = "asirp_view_token"


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable only from this machine (``localhost``, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: may resolve to anything
        return False


def new_token() -> str:
    """A fresh random token (192 bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def token_ok(given: str | None, expected: str | None) -> bool:
    """Whether a request carrying ``given`` may proceed: always without an ``expected`` token,
    else only with an equal one (compared in constant time)."""
    if expected is None:
        return True
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
