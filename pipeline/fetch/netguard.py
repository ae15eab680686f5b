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

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(Exception):
    """The URL's host resolves to an address the policy does not allow."""


class UnresolvableHost(requests.ConnectionError):
    """DNS gave no address for the host."""


@dataclass(frozen=True)
class AddressPolicy:
    """Which destination addresses a fetch may connect to."""

    allow_private: bool = False  # anything goes (tests on 127.0.0.1, trusted intranets)
    allowed_networks: tuple[IPNetwork, ...] = ()  # private networks allowed one by one

    @classmethod
    def build(cls, allow_private: bool, networks: tuple[str, ...] = ()) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def permits(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if self.allow_private or any(address in network for network in self.allowed_networks):
            return True
        return address.is_global and not address.is_multicast


def checked_address(host: str, port: int, policy: AddressPolicy) -> str:
    """The address to connect to for `host`: the first DNS answer, once all answers passed."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise UnresolvableHost(f"cannot resolve {host!r}: {err}") from err
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in answers))
    refused = [str(a) for a in addresses if not policy.permits(a)]
    if refused:
        raise BlockedAddress(
            f"{host} resolves to {', '.join(refused)}: private, loopback, link-local or reserved addresses "
            "are refused (allow them with --allow-private or the source's allow_networks)"
        )
    return str(addresses[0])


class GuardedAdapter(HTTPAdapter):
    """A requests transport that checks and pins the destination address of every request."""

    def __init__(self, policy: AddressPolicy, pool_maxsize: int) -> None:
        self.policy = policy
        super().__init__(pool_maxsize=pool_maxsize, max_retries=0)

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
