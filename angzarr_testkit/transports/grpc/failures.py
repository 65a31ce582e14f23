"""How a gRPC call fails: a non-OK status (:class:`GrpcCallError`) or an answer that is
not the expected response (:class:`GrpcResponseError`)."""

from __future__ import annotations

import re

from ...errors import codes
from ...framework.targets import MalformedResponseError

__all__ = ["GrpcCallError", "GrpcResponseError"]

# What angzarr_client 0.3.1 (ValueError) and the kit's Destinations (InvalidArgumentError) say
# when a domain has no sequence; matched in status details so that such a failure is the same
# finding over gRPC as in process.
_MISSING_SEQUENCE_RE = re.compile(r"No (?:destination )?sequence for domain '([^']*)'")
_HINTS = {
    "UNAVAILABLE": "is the server running and listening there?",
    "DEADLINE_EXCEEDED": (
        "no answer within the {timeout:g} s deadline; if the handler is just slow, raise "
        "timeout= (or add ?timeout=SECONDS to the address)"
    ),
    "UNIMPLEMENTED": "the server does not implement {method}; is it serving angzarr's {service}?",
}


class GrpcCallError(Exception):
    """A call to a gRPC target ended with a non-OK status: the server is down
    (``UNAVAILABLE``), the deadline passed (``DEADLINE_EXCEEDED``), the handler failed
    (``INTERNAL``, ``UNKNOWN``, or whatever it aborted with), ...

    Attributes:
        status: the gRPC status code's name, e.g. ``"UNAVAILABLE"``.
        status_details: the status details the server (or the channel) gave.
        address: the target's ``grpc://host:port``.
        method: the method path, e.g. ``/angzarr.SagaService/Handle``.
        timeout: the deadline in seconds.
        code: ``MISSING_DESTINATION_SEQUENCE`` when the details say the handler found no
            sequence for a domain (so the harness reports the same finding as in process),
            else ``None``.
        details: string context: status, address, method (and domain).
    """

    def __init__(
        self, status: str, status_details: str, *, address: str, method: str, timeout: float
    ) -> None:
        self.status = status
        self.status_details = status_details
        self.address = address
        self.method = method
        self.timeout = timeout
        self.code: str | None = None
        self.details: dict[str, str] = {"status": status, "address": address, "method": method}
        match = _MISSING_SEQUENCE_RE.search(status_details)
        if match:
            self.code = codes.MISSING_DESTINATION_SEQUENCE
            self.details["domain"] = match.group(1)
        message = f"{status} from {address} calling {method}: {status_details or '(no details)'}"
        hint = _HINTS.get(status)
        if hint:
            service = method.rsplit("/", 1)[0].lstrip("/")
            message += f" ({hint.format(timeout=timeout, method=method, service=service)})"
        super().__init__(message)


class GrpcResponseError(MalformedResponseError):
    """A gRPC target answered bytes that are not the expected response message: they do not
    parse, or parse only with unknown fields (another message type, e.g. the echoed request).
    The harness reports it as a ``malformed-response`` finding.

    Attributes (besides :class:`MalformedResponseError`'s):
        address: the target's ``grpc://host:port``.
        method: the method path that answered.
    """

    def __init__(
        self, cause: MalformedResponseError, *, hint: str, address: str, method: str
    ) -> None:
        super().__init__(
            cause.expected,
            cause.received,
            size=cause.size,
            unknown=cause.unknown,
            looks_like=cause.looks_like,
            hint=hint,
            where=f"{address} answered {method} with a malformed response",
        )
        self.address = address
        self.method = method
        self.details.update(address=address, method=method)
