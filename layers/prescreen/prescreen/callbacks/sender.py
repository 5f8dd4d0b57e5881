"""Signed delivery of one callback to a marketplace, guarded against SSRF.

A marketplace chooses its callback URL, so the URL is untrusted input: it could point our Lambda at the
cloud metadata service, at a VPC-internal address, or at a name that resolves to one. Every resolved
address is checked, and the request goes to a checked address (never re-resolved), so a DNS answer that
changes between check and connect (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, SSLError
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from prescreen.records import CallbackRecord
from prescreen.signatures import signed_headers

if TYPE_CHECKING:
    from prescreen.settings import Settings

USER_AGENT = "prescreen-callbacks/1"
MAX_RESPONSE_BYTES = 16 * 1024  # we only need the status; a receiver cannot make us read more than this
_MAX_ADDRESSES_TRIED = 3

# Instance metadata services. Refused even when private networks are allowed: a developer's machine can
# be a cloud VM too, and its credentials must never be one callback URL away.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "fd00:ec2::23", "100.100.100.200")
)
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

type Resolver = Callable[[str, int], Iterable[tuple[Any, ...]]]
type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeCallbackUrl(Exception):
    """The callback URL may not be called (scheme, userinfo, or an address that is not public)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallbackUrlUnresolvable(Exception):
    """The host did not resolve (DNS may be down or the record not yet published): worth retrying."""


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    scheme: Literal["http", "https"]
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        """The first checked address (IPv4 first: Lambda has IPv4 egress, IPv6 only in dual-stack VPCs)."""
        return self.addresses[0]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches (mapped, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    embedded = address.ipv4_mapped or address.sixtofour
    if embedded is None and address in _NAT64:
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return embedded


def is_metadata_address(address: IPAddress) -> bool:
    embedded = _embedded_ipv4(address)
    return address in METADATA_ADDRESSES or (embedded is not None and embedded in METADATA_ADDRESSES)


def address_problem(address: IPAddress) -> str | None:
    """Why an address is not a public destination, or None when it is."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        # It reaches the embedded IPv4 address: judge that one.
        inner = address_problem(embedded)
        return None if inner is None else f"an IPv6 address embedding {inner}"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address in _CGNAT:
        return "a shared (CGNAT, 100.64.0.0/10) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a non-public address"
    return None


def _resolve(host: str, port: int, resolve: Resolver) -> tuple[IPAddress, ...]:
    try:
        entries = list(resolve(host, port))
    except (OSError, UnicodeError) as error:
        raise CallbackUrlUnresolvable(f"the callback host did not resolve ({type(error).__name__})") from error
    found: list[IPAddress] = []
    for entry in entries:
        try:
            # Scope ids (fe80::1%eth0) are kept: ipaddress understands them and they are link-local anyway.
            address = ipaddress.ip_address(str(entry[4][0]))
        except (ValueError, IndexError, TypeError):
            continue
        if address not in found:
            found.append(address)
    if not found:
        raise CallbackUrlUnresolvable("the callback host resolved to no address")
    return tuple(sorted(found, key=lambda address: address.version))


def check_callback_url(url: str, allow_private: bool, resolve: Resolver = socket.getaddrinfo) -> ResolvedTarget:
    """Parse and resolve a callback URL; UnsafeCallbackUrl unless it is https to public addresses only.

    `allow_private` (local development only) also allows http and private, loopback, ... addresses.
    CallbackUrlUnresolvable when the host does not resolve (a transient failure, unlike a refusal).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise UnsafeCallbackUrl("the callback URL cannot be parsed") from error
    scheme = parts.scheme.lower()
    if scheme == "http":
        if not allow_private:
            raise UnsafeCallbackUrl("the callback URL must use https")
    elif scheme != "https":
        raise UnsafeCallbackUrl("the callback URL must use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        # Credentials in a URL end up in logs and proxies; `user@host` also disguises the real host.
        raise UnsafeCallbackUrl("the callback URL may not carry user information")
    host = parts.hostname
    if not host:
        raise UnsafeCallbackUrl("the callback URL has no host")
    if any(ch.isspace() or ord(ch) < 32 for ch in host):
        raise UnsafeCallbackUrl("the callback URL's host is not a host name")
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port, resolve)
    for address in addresses:
        problem = address_problem(address)
        if problem is None:
            continue
        # The metadata service stays refused even locally (see METADATA_ADDRESSES).
        if allow_private and not is_metadata_address(address):
            continue
        # One bad address is enough: which one a client picks is not ours to predict.
        raise UnsafeCallbackUrl(f"the callback host resolves to {problem} ({address})")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return ResolvedTarget(
        scheme="https" if scheme == "https" else "http", host=host, port=port, path=path,
        addresses=tuple(str(address) for address in addresses),
    )


DeliveryStatus = Literal["delivered", "retry", "undeliverable"]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """`reason` is short and safe to store and show operators (no URL, secret or payload)."""

    status: DeliveryStatus
    reason: str
    http_status: int | None = None

    @classmethod
    def delivered(cls, http_status: int) -> DeliveryResult:
        return cls("delivered", f"HTTP {http_status}", http_status)

    @classmethod
    def retry(cls, reason: str, http_status: int | None = None) -> DeliveryResult:
        return cls("retry", reason, http_status)

    @classmethod
    def undeliverable(cls, reason: str) -> DeliveryResult:
        return cls("undeliverable", reason)


def callback_body(callback: CallbackRecord) -> bytes:
    return json.dumps(callback.payload, separators=(",", ":"), ensure_ascii=False).encode()


class CallbackSender:
    def __init__(
        self,
        timeout_seconds: float,
        allow_private: bool = False,
        resolve: Resolver = socket.getaddrinfo,
        clock: Callable[[], float] = time.time,
        ca_certs: str | None = None,
    ) -> None:
        """`ca_certs`: a CA bundle file instead of the system's trust store (tests, private CAs)."""
        self._timeout = timeout_seconds
        self._ca_certs = ca_certs
        self._allow_private = allow_private
        self._resolve = resolve
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackSender:
        return cls(settings.callback_timeout_seconds, settings.callback_allow_private_networks)

    def send(self, callback: CallbackRecord, url: str, secret: str) -> DeliveryResult:
        try:
            target = check_callback_url(url, self._allow_private, self._resolve)
        except UnsafeCallbackUrl as error:
            return DeliveryResult.undeliverable(f"unsafe callback URL: {error.reason}")
        except CallbackUrlUnresolvable as error:
            return DeliveryResult.retry(str(error))
        body = callback_body(callback)
        try:
            headers = signed_headers(secret, callback.message_id, int(self._clock()), body)
        except ValueError:
            return DeliveryResult.undeliverable("the marketplace's callback signing secret is invalid")
        headers.update({
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            # The connection goes to an address; the receiver still needs to know which site was meant.
            "host": target.host_header,
        })
        last = DeliveryResult.retry("no address was tried")
        started = time.monotonic()
        for address in target.addresses[:_MAX_ADDRESSES_TRIED]:
            if time.monotonic() - started > self._timeout:
                break  # the next address would push the attempt past its budget: the queue retries later
            try:
                return self._post(target, address, headers, body)
            except (NewConnectionError, ConnectTimeoutError) as error:
                # Nothing reached the receiver: the next address may work (e.g. IPv6 without a route).
                last = DeliveryResult.retry(_failure(error))
            except (Urllib3Error, OSError) as error:
                # The request may have arrived: do not send it again in this attempt.
                return DeliveryResult.retry(_failure(error))
        return last

    def _post(self, target: ResolvedTarget, address: str, headers: dict[str, str], body: bytes) -> DeliveryResult:
        timeout = urllib3.Timeout(connect=self._timeout, read=self._timeout)
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            # SNI and certificate checks use the URL's host name, while the socket goes to the checked address.
            pool = urllib3.HTTPSConnectionPool(
                address, target.port, timeout=timeout, retries=False, maxsize=1,
                server_hostname=target.host, assert_hostname=target.host, cert_reqs="CERT_REQUIRED",
                ca_certs=self._ca_certs,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)
        with pool:
            response = pool.urlopen(
                "POST", target.path, body=body, headers=headers, redirect=False, retries=False,
                assert_same_host=False, preload_content=False,
            )
            try:
                _read_capped(response, self._timeout)
            finally:
                response.release_conn()
                response.close()
        return _classify(response.status)


def _read_capped(response: urllib3.BaseHTTPResponse, budget_seconds: float) -> None:
    """Read (and drop) at most MAX_RESPONSE_BYTES, within the time budget: a slow drip cannot hold us."""
    deadline = time.monotonic() + budget_seconds
    remaining = MAX_RESPONSE_BYTES
    while remaining > 0 and time.monotonic() < deadline:
        chunk = response.read(min(4096, remaining), decode_content=False)
        if not chunk:
            return
        remaining -= len(chunk)


def _classify(status: int) -> DeliveryResult:
    if 200 <= status < 300:
        return DeliveryResult.delivered(status)
    if 300 <= status < 400:
        # Redirects are not followed: the new location would escape the address check.
        return DeliveryResult.retry(f"HTTP {status} (redirects are not followed)", status)
    # 4xx included: a receiver fixes its configuration (secret, route), then the next attempt succeeds.
    return DeliveryResult.retry(f"HTTP {status}", status)


def _failure(error: Exception) -> str:
    # NewConnectionError is a subclass of urllib3's TimeoutError: test it first.
    if isinstance(error, NewConnectionError):
        return "connection failed"
    if isinstance(error, Urllib3Timeout | TimeoutError):
        return "timeout"
    if isinstance(error, SSLError):
        return "TLS error"
    return f"network error ({type(error).__name__})"
