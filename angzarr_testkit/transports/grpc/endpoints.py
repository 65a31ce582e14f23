"""Where a gRPC handler is: angzarr's service and method paths, and ``grpc://host:port``
addresses parsed and checked (a bad one is a kit error saying what to give)."""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ...errors import TargetError, codes

__all__ = [
    "DEFAULT_TIMEOUT",
    "PM_HANDLE",
    "PM_PREPARE",
    "PM_SERVICE",
    "SAGA_HANDLE",
    "SAGA_SERVICE",
    "Address",
    "check_timeout",
    "parse_address",
]

SAGA_SERVICE = "angzarr.SagaService"
PM_SERVICE = "angzarr.ProcessManagerService"
SAGA_HANDLE = f"/{SAGA_SERVICE}/Handle"
PM_HANDLE = f"/{PM_SERVICE}/Handle"
PM_PREPARE = f"/{PM_SERVICE}/Prepare"
#: Seconds a call may take when neither ``timeout=`` nor ``?timeout=`` says otherwise.
DEFAULT_TIMEOUT = 5.0

_EXAMPLE = "grpc://127.0.0.1:50051"
# A DNS name (labels of letters, digits, '-' and '_', not starting or ending with '-').
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_DOTTED_NUMBERS_RE = re.compile(r"[0-9.]+")


@dataclass(frozen=True)
class Address:
    """A parsed ``grpc://host:port`` (and its ``?timeout=``, if it had one)."""

    host: str
    port: int
    timeout: float | None = None

    @property
    def authority(self) -> str:
        """``host:port`` as grpc wants it (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"grpc://{self.authority}"

    @property
    def loopback(self) -> bool:
        return self.host == "localhost" or self.host.startswith("127.") or self.host == "::1"


def _bad_address(address: Any, why: str, *, code: str = codes.INVALID_ARGUMENT) -> TargetError:
    return TargetError(
        f"gRPC address {address!r} {why}; give grpc://HOST:PORT, e.g. {_EXAMPLE} (optionally "
        "?timeout=SECONDS)",
        code=code,
        details={"address": repr(address)[:200]},
    )


def check_timeout(timeout: Any, where: str) -> float:
    """``timeout`` as seconds; a kit error naming ``where`` unless it is a positive number."""
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise TargetError(
            f"{where} must be a positive number of seconds (every gRPC call has a deadline), "
            f"got {timeout!r}",
            code=codes.INVALID_OPTION,
            details={"timeout": repr(timeout)},
        )
    return float(timeout)


def _split_host_port(address: str, netloc: str) -> tuple[str, str | None]:
    """``host`` and the port text (``None`` when there is none) of ``netloc``, the host
    checked: a DNS name, an IPv4 address, or an IPv6 address in brackets."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise _bad_address(address, "has a malformed IPv6 host ('[' without ']')")
        host, after = netloc[1:end], netloc[end + 1 :]
        if "%" in host:
            raise _bad_address(address, "has an IPv6 zone id (%...), which is not supported")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _bad_address(
                address, f"has {host!r} in brackets, which is not an IPv6 address"
            ) from None
        if after and not after.startswith(":"):
            raise _bad_address(address, f"has {after!r} after the IPv6 host, not :PORT")
        return host, after[1:] if after else None
    if netloc.count(":") > 1:
        raise _bad_address(
            address, "has no valid host (an IPv6 host goes in brackets: grpc://[::1]:50051)"
        )
    host, sep, port = netloc.partition(":")
    valid = bool(host) and _HOSTNAME_RE.fullmatch(host) is not None
    if valid and _DOTTED_NUMBERS_RE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            valid = False
    if not valid:
        raise _bad_address(address, "has no valid host (a DNS name, an IPv4 or [IPv6] address)")
    return host, port if sep else None


def parse_address(address: Any, *, for_serving: bool = False) -> Address:
    """Parse ``grpc://host:port[?timeout=S]`` (for serving: also ``host:port``, port 0 allowed)."""
    if not isinstance(address, str):
        raise _bad_address(address, f"is a {type(address).__name__}, not a string")
    text = address.strip()
    if for_serving and "://" not in text:
        text = "grpc://" + text
    if "://" not in text:
        raise _bad_address(address, "has no scheme")
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if scheme != "grpc":
        raise _bad_address(
            address, f"has the scheme {scheme!r}, not grpc", code=codes.TARGET_UNSUPPORTED
        )
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in netloc:
        raise _bad_address(address, "has credentials (user@), which gRPC targets do not take")
    host, port_text = _split_host_port(address, netloc)
    if not port_text:
        raise _bad_address(address, "has no port")
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        raise _bad_address(address, "has a port that is not a number in 1..65535")
    port = int(port_text)
    # The rest (path, query, fragment) with the host set aside: urlsplit cannot trip on it.
    parts = urlsplit("grpc://host" + rest[len(netloc) :])
    if port == 0 and not for_serving:
        raise _bad_address(address, "has port 0 (a server listens on a real port)")
    if parts.path not in ("", "/") or parts.fragment:
        raise _bad_address(address, "has a path or fragment; a gRPC target is just host:port")
    timeout = None
    if parts.query:
        try:
            pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise _bad_address(address, "has a malformed query") from None
        for key, value in pairs:
            if key != "timeout" or for_serving:
                raise _bad_address(address, f"has the unknown parameter {key!r} (only timeout)")
            try:
                seconds = float(value)
            except ValueError:
                seconds = value  # type: ignore[assignment]  # reported just below
            timeout = check_timeout(seconds, f"?timeout= in {address!r}")
    return Address(host, port, timeout)
