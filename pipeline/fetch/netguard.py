"""Keep the fetcher off private, loopback and link-local addresses (SSRF protection).

URLs come from feeds and sitemaps written by strangers, and redirects can point
anywhere, so every single request is checked where the connection is made:
`GuardedAdapter` resolves the host itself, refuses the request when *any* address it
resolves to is not public (unless the policy allows it), and then connects to the very
address it checked. A DNS answer that changes between the check and the connection
(DNS rebinding) therefore cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from pipeline.fetch import deadline

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(Exception):
    """The URL's host resolves to an address the policy does not allow."""


class UnresolvableHost(requests.ConnectionError):
    """DNS gave no address for the host."""


# IPv6 ranges that carry an IPv4 address or lead somewhere else than the address says.
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are IPv4
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use prefix: a private translator
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291, deprecated: ::a.b.c.d


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address stands for, with the name of the form, if it is one.

    A connection to one of these reaches (through a translator or relay) the IPv4 address
    inside, so that address is what the policy must judge.
    """
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address in NAT64:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    return None


def _special_ipv6(address: ipaddress.IPv6Address) -> str | None:
    """Why an IPv6 form is refused whatever it embeds: tunnels and ranges no public server uses."""
    if address in NAT64_LOCAL:
        return "a local-use NAT64 address (64:ff9b:1::/48)"
    if address.teredo is not None:
        return "a Teredo tunnel address (2001::/32)"
    if address.is_site_local:
        return "a site-local address (fec0::/10)"
    if address in IPV4_COMPATIBLE and not (address.is_unspecified or address.is_loopback):
        return "an IPv4-compatible address (::a.b.c.d, deprecated)"
    return None


def _not_public(address: IPAddress) -> str | None:
    """Why an address is not a public unicast one, from ipaddress's properties."""
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    if not address.is_global:
        return "not a globally reachable address"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which destination addresses a fetch may connect to."""

    allow_private: bool = False  # anything goes (tests on 127.0.0.1, trusted intranets)
    allowed_networks: tuple[IPNetwork, ...] = ()  # private networks allowed one by one

    @classmethod
    def build(cls, allow_private: bool, networks: tuple[str, ...] = ()) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def refusal(self, address: IPAddress) -> str | None:
        """Why the policy refuses `address`, or None when it may be contacted.

        IPv6 forms that embed an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by the
        IPv4 address inside; tunnel and obsolete forms are refused outright.
        """
        if self.allow_private or any(address in network for network in self.allowed_networks):
            return None
        if isinstance(address, ipaddress.IPv6Address):
            special = _special_ipv6(address)
            if special is not None:
                return special
            embedded = embedded_ipv4(address)
            if embedded is not None:
                form, inner = embedded
                why = self.refusal(inner)
                return None if why is None else f"the {form} form of {inner}, {why}"
        return _not_public(address)

    def permits(self, address: IPAddress) -> bool:
        return self.refusal(address) is None


def checked_address(host: str, port: int, policy: AddressPolicy) -> str:
    """The address to connect to for `host`: the first DNS answer, once all answers passed."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise UnresolvableHost(f"cannot resolve {host!r}: {err}") from err
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in answers))
    refused = [f"{a} ({why})" for a in addresses if (why := policy.refusal(a)) is not None]
    if refused:
        raise BlockedAddress(
            f"{host} resolves to {', '.join(refused)}: only public addresses are contacted "
            "(allow others with --allow-private or the source's allow_networks)"
        )
    return str(addresses[0])


class GuardedAdapter(HTTPAdapter):
    """A requests transport that checks and pins the destination address of every request."""

    def __init__(self, policy: AddressPolicy, pool_maxsize: int) -> None:
        self.policy = policy
        super().__init__(pool_maxsize=pool_maxsize, max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        deadline.install(self.poolmanager)  # each exchange's connections obey its one deadline

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        hostname = host_params["host"].strip("[]")
        port = host_params["port"] or (443 if host_params["scheme"] == "https" else 80)
        address = checked_address(hostname, port, self.policy)
        # The connection goes to the checked address; the Host header and TLS (SNI and
        # certificate check) still use the name from the URL.
        request.headers["Host"] = urlsplit(request.url).netloc.rpartition("@")[2]
        if host_params["scheme"] == "https":
            pool_kwargs["assert_hostname"] = hostname
            pool_kwargs["server_hostname"] = hostname
        host_params["host"] = f"[{address}]" if ":" in address else address
        return host_params, pool_kwargs


def guarded_session(policy: AddressPolicy, pool_maxsize: int = 32) -> requests.Session:
    """A session whose every request passes the address policy, with no cookies and no proxies.

    Proxies from the environment are ignored on purpose: through a proxy the address
    check would only ever see the proxy.
    """
    from http.cookiejar import DefaultCookiePolicy

    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # every page is fetched fresh
    adapter = GuardedAdapter(policy, pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
