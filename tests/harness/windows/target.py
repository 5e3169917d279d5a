"""The Windows target as one service: a KDC plus the WinRM test server over HTTP and HTTPS, or a
real Windows host named by ``WINRM_TEST_*`` environment variables.

``with EmulatedTarget(workdir) as target:`` starts everything on loopback and hands back what a
client needs (realm, user, password, host names, ports, the CA of the HTTPS listener), like
k5test's K5Realm hands back its environment.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import pki
from . import TargetError
from .kdc import MitKdc, SambaKdc, wait_listening

# The WinRM server runs as `python -m tests.harness.windows.winrm_server` from the repository root.
ROOT = Path(__file__).resolve().parents[3]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"   # what the tests run against a target

ENV_VARS = ("WINRM_TEST_HOST", "WINRM_TEST_USER", "WINRM_TEST_PASSWORD", "WINRM_TEST_REALM", "WINRM_TEST_KDC")


@dataclass
class Target:
    """What a client needs to reach a Windows host over WinRM with Kerberos."""
    hostname: str                 # FQDN, the SPN is HTTP/<hostname>
    realm: str
    kdc: str                      # host[:port] for krb5.conf
    user: str                     # user@REALM
    password: str
    http_port: int = 5985
    https_port: int = 5986
    ca: Path | None = None        # CA of the HTTPS listener's certificate, when known
    emulated: bool = False
    log: Path | None = None       # the emulated server's JSON lines
    hosts: dict[str, str] = field(default_factory=dict)   # name -> address, for /etc/hosts of clients

    def inventory(self, host: str | None = None, https: bool = False, **variables) -> dict:
        """An Ansible inventory (YAML-ready) for this target, group ``windows``; ``variables`` add
        or override connection variables (``None`` removes one)."""
        values = {
            "ansible_connection": "winrm",
            "ansible_winrm_transport": "kerberos",
            "ansible_port": self.https_port if https else self.http_port,
            "ansible_user": self.user,
            "ansible_password": self.password,
        }
        if host:
            values["ansible_host"] = host
        values.update(variables)
        values = {key: value for key, value in values.items() if value is not None}
        return {"windows": {"hosts": {self.hostname: None}, "vars": values}}

    def events(self) -> list[dict]:
        if self.log is None or not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]


def real_host_from_env() -> Target | None:
    """A real Windows host, when all of WINRM_TEST_HOST/USER/PASSWORD/REALM/KDC are set."""
    values = {name: os.environ.get(name) for name in ENV_VARS}
    if not any(values.values()):
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise TargetError(f"real Windows host: {', '.join(missing)} not set. Expected all of {', '.join(ENV_VARS)} "
                          f"(and optionally WINRM_TEST_CA), or none to use the emulated target.")
    realm = values["WINRM_TEST_REALM"]
    user = values["WINRM_TEST_USER"]
    return Target(hostname=values["WINRM_TEST_HOST"], realm=realm, kdc=values["WINRM_TEST_KDC"],
                  user=user if "@" in user else f"{user}@{realm}", password=values["WINRM_TEST_PASSWORD"],
                  ca=Path(os.environ["WINRM_TEST_CA"]) if os.environ.get("WINRM_TEST_CA") else None)


class EmulatedTarget:
    """A KDC and the WinRM test server (EMULATED executor) on loopback, on the standard ports.

    ``kdc``: ``mit`` (MIT krb5kdc; ``kdc_time_offset`` runs its clock off) or ``samba`` (an AD DC).

    Reachable from pods (the AD shop's layout): ``interface`` names a port-less bridge this target
    creates (and removes) holding ``address``, e.g. ``EmulatedTarget(w, address="10.254.252.1",
    interface="ee-ad0", kdc="samba", dns_port=53)``; ``dns_port`` (Samba only) serves the realm's
    DNS zone there, with A records for ``hostname`` and ``kdc_host``, for a conditional forwarder
    to point at. The defaults (loopback, no DNS) are what the other tests use."""

    def __init__(self, workdir: Path, realm: str = "EXAMPLE.TEST", hostname: str = "winhost.example.test",
                 kdc_host: str = "kdc.example.test", address: str = "127.0.0.1", kdc: str = "mit",
                 kdc_port: int = 88, kdc_time_offset: int = 0, http_port: int = 5985, https_port: int = 5986,
                 interface: str | None = None, dns_port: int | None = None):
        self.workdir, self.address, self.interface = workdir, address, interface
        self._created_interface = False
        self.dns = f"{address}:{dns_port}" if dns_port else None   # the DC's DNS server, for a forwarder
        self.realm, self.hostname, self.kdc_host = realm, hostname, kdc_host
        self.http_port, self.https_port = http_port, https_port
        self.kdc = kdc_host if kdc_port == 88 else f"{kdc_host}:{kdc_port}"  # as krb5.conf names it
        if kdc == "samba":
            self._kdc = SambaKdc(realm, hostname, address=address, port=kdc_port, dns_port=dns_port,
                                 records={hostname: address, kdc_host: address} if dns_port else None)
        elif dns_port:
            raise TargetError("EmulatedTarget: dns_port needs kdc='samba' (the AD DC serves the zone)")
        else:
            self._kdc = MitKdc(realm, hostname, address=address, port=kdc_port, time_offset=kdc_time_offset)
        self._servers: list[subprocess.Popen] = []

    def __enter__(self) -> Target:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.interface:
            self._add_interface()
        try:
            kdc = self._kdc.__enter__()
        except BaseException:
            self._remove_interface()
            raise
        try:
            ca = pki.make_ca(self.workdir, "ee-builder WinRM test CA")
            cert, key = pki.issue(self.workdir, "winrm", self.hostname, dns=(self.hostname,), server=True)
            log = self.workdir / "winrm.jsonl"
            log.write_text("")
            env = dict(os.environ, KRB5_KTNAME=str(kdc.keytab))
            for port, tls in ((self.http_port, []), (self.https_port, ["--tls-cert", str(cert), "--tls-key", str(key)])):
                self._servers.append(self._start(env, port, log, tls))
        except BaseException:
            self.__exit__()
            raise
        return Target(hostname=self.hostname, realm=self.realm, kdc=self.kdc, user=kdc.user,
                      password=kdc.password, http_port=self.http_port, https_port=self.https_port, ca=ca,
                      emulated=True, log=log, hosts={self.hostname: self.address, self.kdc_host: self.address})

    def _start(self, env: dict[str, str], port: int, log: Path, tls: list[str]) -> subprocess.Popen:
        output = (self.workdir / f"winrm-{port}.out").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.windows.winrm_server", "--hostname", self.hostname,
             "--address", self.address, "--port", str(port), "--log", str(log), *tls],
            env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            wait_listening(self.address, port, f"WinRM test server (log {output.name})")
        except TargetError:
            server.kill()
            raise
        return server

    def _add_interface(self) -> None:
        if subprocess.run(["ip", "link", "show", self.interface], capture_output=True).returncode == 0:
            return
        # A bridge without ports (these kernels have no dummy interfaces): the address is this host's.
        for args in (["link", "add", self.interface, "type", "bridge"],
                     ["addr", "add", f"{self.address}/32", "dev", self.interface],
                     ["link", "set", self.interface, "up"]):
            done = subprocess.run(["ip", *args], capture_output=True, text=True)
            if done.returncode != 0:
                raise TargetError(f"EmulatedTarget: ip {' '.join(args)}: {done.stderr.strip()}")
            self._created_interface = True

    def _remove_interface(self) -> None:
        if self._created_interface:
            subprocess.run(["ip", "link", "del", self.interface], capture_output=True)
            self._created_interface = False

    def __exit__(self, *exc) -> None:
        for server in self._servers:
            server.terminate()
            server.wait(10)
        self._servers.clear()
        self._kdc.__exit__()
        self._remove_interface()

