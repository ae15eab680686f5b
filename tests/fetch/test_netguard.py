"""The fetcher never reaches private, loopback or link-local addresses unless allowed."""

from __future__ import annotations

import ipaddress

import pytest
from warcio.archiveiterator import ArchiveIterator

from pipeline.fetch import FetchContext, fetch_urls
from pipeline.fetch.netguard import AddressPolicy, BlockedAddress, guarded_session
from pipeline.store import LocalStore
from tests.fetch.site import FixtureSite, quick_source

RUN = "20240501T060000Z"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata service
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # multicast
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
    ],
)
def test_only_public_addresses_pass_by_default(address: str, public: bool) -> None:
    assert AddressPolicy().permits(ipaddress.ip_address(address)) is public


# Every IPv6 form that embeds an IPv4 address or reaches private space, each with the private or
# loopback address it hides; and the same forms around a public address where the form is usable.
HIDDEN_PRIVATE = {
    "NAT64 of loopback": "64:ff9b::7f00:1",
    "NAT64 of 10.0.0.1": "64:ff9b::a00:1",
    "local-use NAT64": "64:ff9b:1::a00:1",
    "6to4 of loopback": "2002:7f00:1::1",
    "6to4 of 192.168.1.1": "2002:c0a8:101::1",
    "IPv4-compatible loopback": "::127.0.0.1",
    "IPv4-compatible public": "::8.8.8.8",  # deprecated form: refused whatever it holds
    "IPv4-mapped 10.1.2.3": "::ffff:10.1.2.3",
    "site-local": "fec0::1",
    "Teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "unspecified": "::",
    "loopback": "::1",
    "link-local": "fe80::1",
    "unique local": "fd12:3456::1",
    "multicast": "ff02::1",
    "documentation": "2001:db8::1",
    "discard-only": "100::1",
}
PUBLIC_FORMS = {
    "NAT64 of 8.8.8.8": "64:ff9b::808:808",
    "6to4 of 8.8.8.8": "2002:808:808::1",
    "IPv4-mapped 8.8.8.8": "::ffff:8.8.8.8",
    "public IPv6": "2a00:1450:4001:80b::200e",
}


@pytest.mark.parametrize("address", HIDDEN_PRIVATE.values(), ids=HIDDEN_PRIVATE.keys())
def test_every_ipv6_form_of_a_private_address_is_refused(address: str) -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC_FORMS.values(), ids=PUBLIC_FORMS.keys())
def test_ipv6_forms_of_public_addresses_pass(address: str) -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_the_refusal_names_the_form_and_the_hidden_address() -> None:
    why = AddressPolicy().refusal(ipaddress.ip_address("64:ff9b::7f00:1"))
    assert why == "the NAT64 form of 127.0.0.1, a loopback address"


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::1", "::127.0.0.1", "fec0::1"])
def test_a_url_naming_an_ipv6_form_is_refused_before_any_connection(store: LocalStore, address: str) -> None:
    """The host is an IPv6 literal: resolving it gives the address itself, which is checked, not reached."""
    url = f"http://[{address}]:8080/articles/1"
    summary = fetch_urls(quick_source("literal", "urls", url), [url], FetchContext(store, RUN))
    assert summary.failed == {"blocked_address": 1}


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "::ffff:127.0.0.1", "2002:7f00:1::1"])
def test_a_redirect_to_an_ipv6_form_of_an_allowed_network_is_still_refused(
    store: LocalStore, address: str
) -> None:
    """127.0.0.2 is opened to the source; a redirect to a NAT64 or 6to4 form of 127.0.0.1 is not."""
    with FixtureSite("127.0.0.2") as allowed:
        url = f"{allowed.url}/redirect?to=http://[{address}]:{allowed.url.rsplit(':', 1)[1]}/articles/1"
        source = quick_source("intranet", "urls", url, allow_networks=["127.0.0.2/32"])
        summary = fetch_urls(source, [url], FetchContext(store, RUN))
    assert summary.failed == {"blocked_address": 1}
    assert allowed.hits["/redirect"] == 1 and allowed.hits["/articles/1"] == 0


def test_allowed_networks_open_only_themselves() -> None:
    policy = AddressPolicy.build(False, ("10.0.0.0/8",))
    assert policy.permits(ipaddress.ip_address("10.9.9.9"))
    assert not policy.permits(ipaddress.ip_address("192.168.0.1"))
    assert AddressPolicy.build(True).permits(ipaddress.ip_address("127.0.0.1"))


def outcomes_archived(store: LocalStore, keys: list[str]) -> list[str]:
    found = []
    for key in keys:
        with open(store.location(key), "rb") as stream:
            found += [
                record.content_stream().read().decode().split("\r\n")[0]
                for record in ArchiveIterator(stream)
                if record.rec_type == "metadata"
            ]
    return found


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_url_is_refused_unless_allowed(site: FixtureSite, store: LocalStore, host: str) -> None:
    url = f"{site.url.replace('127.0.0.1', host)}/articles/1"
    refused = fetch_urls(quick_source("local", "urls", url), [url], FetchContext(store, RUN))
    assert refused.failed == {"blocked_address": 1} and refused.fetched == 0
    assert sum(site.hits.values()) == 0  # not even robots.txt was asked for
    assert outcomes_archived(store, refused.warc_keys) == ["outcome: blocked_address"]

    allowed = fetch_urls(
        quick_source("local", "urls", url), [url], FetchContext(store, RUN, allow_private=True)
    )
    assert allowed.fetched == 1


def test_redirect_into_loopback_is_refused(store: LocalStore) -> None:
    """A host the source may reach (127.0.0.2 here) redirects to one it may not (127.0.0.1)."""
    with FixtureSite("127.0.0.2") as allowed, FixtureSite("127.0.0.1") as internal:
        url = f"{allowed.url}/redirect?to={internal.url}/articles/1"
        source = quick_source("intranet", "urls", url, allow_networks=["127.0.0.2/32"])
        summary = fetch_urls(source, [url], FetchContext(store, RUN))
    assert summary.failed == {"blocked_address": 1}
    assert allowed.hits["/redirect"] == 1
    assert sum(internal.hits.values()) == 0
    assert outcomes_archived(store, summary.warc_keys) == ["outcome: blocked_address"]


def test_the_transport_itself_refuses_and_pins_the_checked_address(site: FixtureSite) -> None:
    """Below the fetcher's own check: the adapter refuses too, and connects to the address it checked."""
    with pytest.raises(BlockedAddress):
        guarded_session(AddressPolicy()).get(f"{site.url}/articles/1", timeout=2)
    assert sum(site.hits.values()) == 0

    by_name = site.url.replace("127.0.0.1", "localhost")
    response = guarded_session(AddressPolicy(allow_private=True)).get(f"{by_name}/articles/1", timeout=2)
    assert response.status_code == 200
    assert site.host_headers == [by_name.removeprefix("http://")]  # the name, though the address was pinned
