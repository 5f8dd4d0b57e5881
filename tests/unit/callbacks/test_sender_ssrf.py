"""The callback URL guard: every non-public address class is refused, whatever name leads to it."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from prescreen.callbacks.sender import CallbackUrlUnresolvable, UnsafeCallbackUrl, check_callback_url

type FakeResolver = Callable[[str, int], list[tuple[Any, ...]]]


def resolving(*addresses: str) -> FakeResolver:
    """A resolver answering every name with these addresses (as getaddrinfo shapes them)."""

    def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
        entries: list[tuple[Any, ...]] = []
        for address in addresses:
            if ":" in address:
                entries.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                entries.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return entries

    return resolve


def failing(host: str, port: int) -> list[tuple[Any, ...]]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


REFUSED = [
    ("10.0.0.7", "private"),
    ("172.16.4.2", "private"),
    ("192.168.1.20", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("127.0.0.1", "loopback"),
    ("127.8.8.8", "loopback"),
    ("::1", "loopback"),
    ("169.254.10.1", "link-local"),
    ("fe80::1", "link-local"),
    ("224.0.0.251", "multicast"),
    ("239.1.2.3", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.254", "CGNAT"),
    ("::ffff:10.0.0.1", "embedding a private"),
    ("::ffff:127.0.0.1", "embedding a loopback"),
    ("64:ff9b::a00:1", "embedding a private"),      # NAT64 of 10.0.0.1
    ("2002:a00:1::1", "embedding a private"),       # 6to4 of 10.0.0.1
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("192.0.2.10", "private"),                      # documentation range: not routable
    ("198.18.0.1", "private"),                      # benchmarking range
    ("2001:db8::1", "private"),
]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_given_a_host_resolving_to_a_non_public_address_when_checked_then_it_is_refused(
    address: str, kind: str
) -> None:
    with pytest.raises(UnsafeCallbackUrl) as refused:
        check_callback_url("https://callbacks.example/hook", allow_private=False, resolve=resolving(address))
    assert kind in refused.value.reason
    assert address in refused.value.reason


@pytest.mark.parametrize("literal", ["127.0.0.1", "[::1]", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"])
def test_given_an_ip_literal_for_loopback_when_checked_with_the_real_resolver_then_it_is_refused(
    literal: str,
) -> None:
    # getaddrinfo reads decimal and hex spellings as 127.0.0.1: the check judges what they resolve to.
    with pytest.raises(UnsafeCallbackUrl, match="loopback"):
        check_callback_url(f"https://{literal}/hook", allow_private=False)


def test_given_one_public_and_one_private_address_when_checked_then_the_url_is_refused() -> None:
    resolver = resolving("93.184.216.34", "10.1.2.3")
    with pytest.raises(UnsafeCallbackUrl, match=r"private address \(10\.1\.2\.3\)"):
        check_callback_url("https://mixed.example/hook", allow_private=False, resolve=resolver)


@pytest.mark.parametrize(
    "addresses",
    [("93.184.216.34",), ("1.1.1.1", "8.8.8.8"), ("2606:4700:4700::1111",), ("::ffff:93.184.216.34",)],
)
def test_given_public_addresses_when_checked_then_the_target_keeps_them_all(addresses: tuple[str, ...]) -> None:
    target = check_callback_url("https://shop.example:8443/cb?k=v", allow_private=False,
                                resolve=resolving(*addresses))
    assert target.scheme == "https"
    assert (target.host, target.port, target.path) == ("shop.example", 8443, "/cb?k=v")
    assert set(target.addresses) == set(addresses)
    assert target.host_header == "shop.example:8443"


def test_given_ipv4_and_ipv6_addresses_when_checked_then_ipv4_is_tried_first() -> None:
    target = check_callback_url("https://shop.example/", allow_private=False,
                                resolve=resolving("2606:4700:4700::1111", "93.184.216.34"))
    assert target.address == "93.184.216.34"
    assert target.host_header == "shop.example"


def test_given_http_when_checked_then_it_is_refused_unless_private_networks_are_allowed() -> None:
    with pytest.raises(UnsafeCallbackUrl, match="https"):
        check_callback_url("http://shop.example/hook", allow_private=False, resolve=resolving("93.184.216.34"))
    target = check_callback_url("http://shop.example/hook", allow_private=True, resolve=resolving("93.184.216.34"))
    assert (target.scheme, target.port) == ("http", 80)


@pytest.mark.parametrize("url", ["ftp://shop.example/x", "file:///etc/passwd", "gopher://shop.example/", "shop/x"])
def test_given_another_scheme_when_checked_then_it_is_refused_even_locally(url: str) -> None:
    with pytest.raises(UnsafeCallbackUrl):
        check_callback_url(url, allow_private=True, resolve=resolving("93.184.216.34"))


@pytest.mark.parametrize(
    "url",
    ["https://user:pass@shop.example/", "https://user@shop.example/", "https://shop.example@10.0.0.1/",
     "https://:secret@shop.example/"],
)
def test_given_user_information_in_the_url_when_checked_then_it_is_refused(url: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(UnsafeCallbackUrl, match="user information"):
            check_callback_url(url, allow_private=allow_private, resolve=resolving("93.184.216.34"))


@pytest.mark.parametrize("url", ["https:///hook", "https://:443/hook", "https://shop.example:99999/", "http://[::1"])
def test_given_no_host_or_a_broken_url_when_checked_then_it_is_refused(url: str) -> None:
    with pytest.raises(UnsafeCallbackUrl):
        check_callback_url(url, allow_private=True, resolve=resolving("93.184.216.34"))


def test_given_private_networks_allowed_when_a_loopback_host_is_checked_then_it_is_accepted() -> None:
    target = check_callback_url("http://localhost:8099/callbacks", allow_private=True,
                                resolve=resolving("127.0.0.1", "::1"))
    assert target.addresses == ("127.0.0.1", "::1")
    assert target.host_header == "localhost:8099"


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"])
def test_given_private_networks_allowed_when_the_metadata_service_is_named_then_it_is_still_refused(
    address: str,
) -> None:
    with pytest.raises(UnsafeCallbackUrl, match="cloud metadata"):
        check_callback_url("http://metadata.example/latest", allow_private=True, resolve=resolving(address))


def test_given_a_name_that_does_not_resolve_when_checked_then_it_is_unresolvable_not_unsafe() -> None:
    # DNS can fail for a while: a retry may succeed, unlike a refusal.
    with pytest.raises(CallbackUrlUnresolvable):
        check_callback_url("https://shop.example/hook", allow_private=False, resolve=failing)
    with pytest.raises(CallbackUrlUnresolvable):
        check_callback_url("https://shop.example/hook", allow_private=False, resolve=resolving())
