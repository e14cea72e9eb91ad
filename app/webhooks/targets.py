"""Which receivers may be called: a guard against server-side request forgery.

A webhook URL makes the service send requests where someone else chose, from inside its
network. So by default only `https` URLs are taken, and only when every address the host
resolves to is a public one: no private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback,
link-local (169.254/16, where cloud metadata answers; fe80::/10), shared, multicast,
reserved or unspecified address. The host is resolved again before every try, each address
checked again, and the request sent to one of the checked addresses (the URL's host still in
`Host` and in TLS's SNI), so a name that later resolves elsewhere (DNS rebinding) is refused
then too. Redirects are never followed. Operators allow http and private addresses by setting
(TICKERCAST_WEBHOOK_ALLOW_HTTP, TICKERCAST_WEBHOOK_ALLOW_PRIVATE) for a receiver on their own
network.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

from app.core.config import Settings
from app.core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(InvalidInput):
    """422: the URL is not one deliveries may go to; the message says why and which setting
    would allow it."""


def is_public(address: IPAddress) -> bool:
    """Whether an address is a public unicast one (an IPv4-mapped IPv6 address as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (an address literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"The webhook host {host!r} does not resolve ({exc}).") from exc
    # getaddrinfo's IPv6 answers may carry a scope ("fe80::1%eth0"): the address is before it.
    found = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    return sorted(found, key=lambda a: (a.version, int(a)))


@dataclass(frozen=True)
class Target:
    """Where one try goes: a checked address, and the URL's own host for Host and SNI."""

    url: httpx.URL  # the URL with its host replaced by the address
    host_header: str
    sni_hostname: str | None  # https to a name only


def parse(url: str, settings: Settings) -> httpx.URL:
    """The URL, if its form is one deliveries may go to (scheme, host, no credentials)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeTarget(f"The webhook url is not a URL ({exc}).") from exc
    allowed = ("https", "http") if settings.webhook_allow_http else ("https",)
    if parsed.scheme not in allowed:
        hint = "" if settings.webhook_allow_http else " (TICKERCAST_WEBHOOK_ALLOW_HTTP allows http)"
        raise UnsafeTarget(f"The webhook url must start with https://, not {url!r}{hint}.")
    if not parsed.host:
        raise UnsafeTarget(f"The webhook url {url!r} names no host.")
    if parsed.userinfo:
        raise UnsafeTarget(
            "The webhook url must not carry a user name or password; verify deliveries with "
            "the signing secret instead."
        )
    if parsed.fragment:
        raise UnsafeTarget(f"The webhook url {url!r} must not have a #fragment.")
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def checked_addresses(url: httpx.URL, settings: Settings) -> list[IPAddress]:
    """The host's addresses, every one of them allowed, or UnsafeTarget naming the first not."""
    addresses = resolve(url.host, _port(url))
    if not addresses:
        raise UnsafeTarget(f"The webhook host {url.host!r} resolves to no address.")
    if not settings.webhook_allow_private:
        for address in addresses:
            if not is_public(address):
                where = (
                    f"address {address} is"
                    if _is_literal(url.host)
                    else f"host {url.host!r} resolves to {address},"
                )
                raise UnsafeTarget(
                    f"The webhook {where} a private, loopback, link-local or reserved address; "
                    "deliveries go to public addresses only (TICKERCAST_WEBHOOK_ALLOW_PRIVATE "
                    "allows others)."
                )
    return addresses


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check(url: str, settings: Settings) -> str:
    """POST /webhooks: the URL as it will be stored, or UnsafeTarget saying why not."""
    parsed = parse(url, settings)
    checked_addresses(parsed, settings)
    return str(parsed)


def target(url: str, settings: Settings) -> Target:
    """Before each try: resolve and check again, and aim at the first checked address."""
    parsed = parse(url, settings)
    address = checked_addresses(parsed, settings)[0]
    host_header = parsed.netloc.decode("ascii")
    return Target(
        url=parsed.copy_with(host=str(address)),
        host_header=host_header,
        # SNI carries names only; a URL with an address literal sends none.
        sni_hostname=(
            parsed.host if parsed.scheme == "https" and not _is_literal(parsed.host) else None
        ),
    )
