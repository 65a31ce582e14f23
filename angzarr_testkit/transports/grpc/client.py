"""The client side: one lazily opened channel per target, unary calls with bytes in and out
and a deadline each, and the registry of this process's channels."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import grpc

from ...framework.targets import MalformedResponseError, parse_response
from .endpoints import DEFAULT_TIMEOUT, Address, check_timeout, parse_address
from .failures import GrpcCallError, GrpcResponseError

__all__ = ["Client", "close_clients_of", "open_client"]


def _channel_options(address: Address) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", -1),
        ("grpc.max_send_message_length", -1),
        # A server started (or restarted) after the first failed call is found again within
        # a second, instead of after grpc's default backoff of up to two minutes.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        # This target's connection is its own: closing the channel closes it.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if address.loopback:
        options.append(("grpc.enable_http_proxy", 0))  # an http_proxy env var must not apply
    return options


class Client:
    """One lazily opened channel to a ``grpc://`` address: unary calls, bytes in and out, each
    with a deadline."""

    def __init__(self, address: Address, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self._lock = threading.Lock()
        self._channel: grpc.Channel | None = None
        self._methods: dict[str, Callable[..., bytes]] = {}
        _CLIENTS.add(self)

    def _method(self, path: str) -> Callable[..., bytes]:
        with self._lock:
            method = self._methods.get(path)
            if method is None:
                if self._channel is None:
                    self._channel = grpc.insecure_channel(
                        self.address.authority, options=_channel_options(self.address)
                    )
                # No serializers: grpc hands the request bytes over as they are and returns
                # the response bytes unparsed.
                method = self._methods[path] = self._channel.unary_unary(path)
            return method

    def call(self, path: str, request_bytes: bytes) -> bytes:
        try:
            return self._method(path)(request_bytes, timeout=self.timeout)
        except grpc.RpcError as err:
            status = getattr(err, "code", lambda: None)()
            details = getattr(err, "details", lambda: None)()
            raise GrpcCallError(
                getattr(status, "name", str(status)),
                details or "",
                address=self.address.url,
                method=path,
                timeout=self.timeout,
            ) from None  # grpc's own exception adds only its debug string
        except ValueError as err:  # closed under us (a GrpcServer here stopped): as grpc would
            raise GrpcCallError(
                "CANCELLED",
                str(err),
                address=self.address.url,
                method=path,
                timeout=self.timeout,
            ) from None

    def parse(self, message_class: Any, data: bytes, path: str) -> Any:
        try:
            return parse_response(message_class, data)
        except MalformedResponseError as exc:
            service = path.rsplit("/", 1)[0].lstrip("/")
            raise GrpcResponseError(
                exc,
                hint=exc.hint or f"is it serving {service} with the same wire schema?",
                address=self.address.url,
                method=path,
            ) from None

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
            self._channel = None
            self._methods.clear()


# Every client channel of this process, so that a GrpcServer stopping here closes the ones
# connected to it first: otherwise grpc logs "Got goaway" on stderr for each of them.
_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()


def open_client(address: str, timeout: float | None) -> Client:
    """A client for ``address``; its deadline is ``timeout``, else the address's
    ``?timeout=``, else :data:`DEFAULT_TIMEOUT`."""
    parsed = parse_address(address)
    if timeout is None:
        seconds = parsed.timeout if parsed.timeout is not None else DEFAULT_TIMEOUT
    else:
        seconds = check_timeout(timeout, "timeout")
    return Client(parsed, seconds)


def close_clients_of(host: str, port: int) -> None:
    """Close every client channel of this process connected to ``host:port`` (any loopback
    client, when ``host`` is a loopback host); a later call reopens it."""
    for client in list(_CLIENTS):
        there = client.address
        if there.port == port and (
            there.host == host or (there.loopback and Address(host, 0).loopback)
        ):
            client.close()  # reopened by the next call, which then finds no server
