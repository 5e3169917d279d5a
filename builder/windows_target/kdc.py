"""Real KDCs on loopback for the Windows test target.

``MitKdc`` (default): MIT krb5kdc through k5test, listening on 127.0.0.1:88 so a krb5.conf naming
``kdc = <name>`` (no port), as users write it, reaches it. ``SambaKdc``: a Samba AD DC for
AD-shaped behaviour (RC4 service keys, case-insensitive user names, UPN logins).

Both hand back the same ``Kdc`` facts: realm, user and password, the HTTP service keytab.
"""
from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import k5test

from ..errors import UserError

KDC_PORT = 88


@dataclass(frozen=True)
class Kdc:
    realm: str
    address: str                  # host:port the KDC listens on
    user: str                     # principal, user@REALM
    password: str
    service: str                  # HTTP/<fqdn>@REALM
    keytab: Path                  # the service's keys, for the WinRM server's acceptor


class MitKdc:
    """``with MitKdc(realm, service_host) as kdc:`` a running MIT KDC with a user and an HTTP service.

    ``time_offset`` (seconds) runs the KDC's clock off true time, to reproduce clock skew.
    """

    def __init__(self, realm: str, service_host: str, user: str = "ansible", address: str = "127.0.0.1",
                 port: int = KDC_PORT, time_offset: int = 0):
        self.realm_name, self.service_host, self.user = realm, service_host, user
        self.address, self.port, self.time_offset = address, port, time_offset
        self._realm: k5test.K5Realm | None = None

    def __enter__(self) -> Kdc:
        _port_free(self.address, self.port, "KDC")
        listen = f"{self.address}:{self.port}"
        self._realm = k5test.K5Realm(
            realm=self.realm_name, create_user=False, create_host=False, get_creds=False, start_kdc=False,
            # k5test's ports start at portbase; only the KDC listens, and only on loopback.
            portbase=self.port,
            kdc_conf={"realms": {"$realm": {"kdc_listen": listen, "kdc_tcp_listen": listen,
                                            "kdc_ports": listen, "kdc_tcp_ports": listen}}})
        password = secrets.token_urlsafe(12)
        principal = f"{self.user}@{self.realm_name}"
        service = f"HTTP/{self.service_host}@{self.realm_name}"
        # Pre-authentication required, as Active Directory requires it: the KDC then checks the
        # client's clock (encrypted timestamp) before issuing a ticket.
        self._realm.run_kadminl(["addprinc", "+requires_preauth", "-pw", password, principal])
        self._realm.addprinc(service)
        keytab = Path(self._realm.tmpdir) / "http.keytab"
        self._realm.extract_keytab(service, str(keytab))
        self._realm.start_kdc(["-T", str(self.time_offset)] if self.time_offset else None)
        _wait_listening(self.address, self.port, "MIT KDC")
        return Kdc(self.realm_name, listen, principal, password, service, keytab)

    def __exit__(self, *exc) -> None:
        if self._realm is not None:
            self._realm.stop()
            self._realm = None

    @property
    def env(self) -> dict[str, str]:
        """KRB5_CONFIG etc. for host tools run against this realm (k5test's environment)."""
        assert self._realm is not None
        return dict(os.environ, **self._realm.env)


def _port_free(address: str, port: int, what: str) -> None:
    with socket.socket() as sock:
        if sock.connect_ex((address, port)) == 0:
            raise UserError(f"{what}: {address}:{port} is already in use. Expected it free: stop the other "
                            f"KDC (e.g. a left-over krb5kdc or samba) first.")


def _wait_listening(address: str, port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((address, port)) == 0:
                return
        time.sleep(0.1)
    raise UserError(f"{what}: nothing listens on {address}:{port} after {timeout:.0f}s.")
