"""Real KDCs on loopback for the Windows test target.

``MitKdc`` (default): MIT krb5kdc through k5test, listening on 127.0.0.1:88 so a krb5.conf naming
``kdc = <name>`` (no port), as users write it, reaches it. ``SambaKdc``: a Samba AD DC for
AD-shaped behaviour (RC4 service keys, case-insensitive user names, UPN logins).

Both hand back the same ``Kdc`` facts: the user and password, the HTTP service keytab.
"""
from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import k5test

from ..net import listening
from . import TargetError

KDC_PORT = 88


@dataclass(frozen=True)
class Kdc:
    user: str                     # principal, user@REALM
    password: str
    keytab: Path                  # the HTTP/<fqdn> service's keys, for the WinRM server's acceptor


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
        wait_listening(self.address, self.port, "MIT KDC")
        return Kdc(principal, password, keytab)

    def __exit__(self, *exc) -> None:
        if self._realm is not None:
            self._realm.stop()
            self._realm = None


def _port_free(address: str, port: int, what: str) -> None:
    if listening(address, port):
        raise TargetError(f"{what}: {address}:{port} is already in use. Expected it free: stop the other "
                          f"KDC (e.g. a left-over krb5kdc or samba) first.")


def wait_listening(address: str, port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(address, port):
            return
        time.sleep(0.1)
    raise TargetError(f"{what}: nothing listens on {address}:{port} after {timeout:.0f}s.")


class SambaKdc:
    """``with SambaKdc(realm, service_host) as kdc:`` a Samba AD DC serving only its KDC, on loopback.

    AD-shaped: the HTTP service account's keytab holds RC4 only (as for an account without
    msDS-SupportedEncryptionTypes), user names are case-insensitive, UPNs work.

    ``dns_port``: also serve the DC's DNS zone for the realm's domain (Samba's internal DNS: the
    DC's A record, the ``_kerberos._tcp``/``_ldap._tcp`` SRV records, plus an A record per entry of
    ``records``, name -> address) on ``address:dns_port``; with no forwarder, so it answers for
    its own zones only. ``address`` may be one of a bridge the tests create (reachable from pods);
    the default stays loopback.
    """

    def __init__(self, realm: str, service_host: str, user: str = "ansible", address: str = "127.0.0.1",
                 port: int = KDC_PORT, dns_port: int | None = None, records: dict[str, str] | None = None):
        self.realm_name, self.service_host, self.user = realm, service_host, user
        self.address, self.port, self.dns_port, self.records = address, port, dns_port, dict(records or {})
        self._dir: Path | None = None
        self._samba: subprocess.Popen | None = None

    def __enter__(self) -> Kdc:
        if shutil.which("samba-tool") is None:
            raise TargetError("Samba AD DC mode: samba-tool not found. Expected the Debian packages samba-ad-dc "
                              "samba-ad-provision python3-samba winbind (scripts/ensure-host samba installs them).")
        _port_free(self.address, self.port, "Samba KDC")
        self._dir = Path(tempfile.mkdtemp(prefix="ee-builder-samba-"))
        try:
            return self._start()
        except BaseException:
            self.__exit__()
            raise

    def _start(self) -> Kdc:
        domain = self.realm_name.split(".")[0]
        conf = self._dir / "etc" / "smb.conf"
        # AD's password complexity: upper, lower, digit and symbol. The fixed part first: a random
        # one may start with '-', which samba-tool takes for an option (seen as "no such option: -R").
        admin_password, password, machine_password = ("aA1!" + secrets.token_urlsafe(12) for _ in range(3))
        self._tool("domain", "provision", f"--targetdir={self._dir}", f"--realm={self.realm_name}",
                   f"--domain={domain}", "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
                   f"--adminpass={admin_password}", "--host-name=dc1", f"--host-ip={self.address}",
                   f"--option=interfaces={'lo' if self.address.startswith('127.') else self.address}",
                   "--option=bind interfaces only=yes", config=False)
        text = re.sub(r"^\s*dns forwarder\s*=.*\n", "", conf.read_text(), flags=re.MULTILINE)
        services = f"kdc dns\n\tdns port = {self.dns_port}" if self.dns_port else "kdc"
        text = text.replace("[global]\n", f"[global]\n\tserver services = {services}\n\tkrb5 port = {self.port}\n", 1)
        conf.write_text(text)
        if self.records:
            self._add_records(conf)
        machine = self.service_host.split(".")[0].upper()
        self._tool("user", "create", self.user, password)
        self._tool("computer", "create", machine, f"--service-principal-name=HTTP/{self.service_host}")
        # Created disabled and without keys: give it a password, then enable it.
        self._tool("user", "setpassword", f"{machine}$", f"--newpassword={machine_password}")
        self._tool("user", "enable", f"{machine}$")
        keytab = self._dir / "http.keytab"
        self._tool("domain", "exportkeytab", str(keytab), f"--principal=HTTP/{self.service_host}")
        self._samba = subprocess.Popen(["samba", "-i", "-s", str(conf)], stdin=subprocess.DEVNULL,
                                       stdout=(self._dir / "samba.log").open("w"), stderr=subprocess.STDOUT)
        wait_listening(self.address, self.port, f"Samba KDC (log {self._dir / 'samba.log'})", timeout=60)
        if self.dns_port:
            wait_listening(self.address, self.dns_port, f"Samba DNS (log {self._dir / 'samba.log'})", timeout=60)
        return Kdc(f"{self.user}@{self.realm_name}", password, keytab)

    def _add_records(self, conf: Path) -> None:
        """A records in the AD zone, written to the directory before the DC starts (``samba-tool dns
        add`` needs the DC's RPC server, which this DC does not run)."""
        outside = [name for name in self.records if not name.lower().endswith("." + self.realm_name.lower())]
        if outside:
            raise TargetError(f"Samba AD DC mode: DNS records {outside} are outside the zone "
                              f"{self.realm_name.lower()}. Expected names in the realm's domain.")
        script = (
            "import sys, json\n"
            "from samba.param import LoadParm\nfrom samba.samdb import SamDB\nfrom samba.auth import system_session\n"
            "from samba.provision.sambadns import add_host_record\n"
            "lp = LoadParm(); lp.load(sys.argv[1])\n"
            "db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)\n"
            "zone = sys.argv[3].lower()\n"
            "container = 'DC=%s,CN=MicrosoftDNS,DC=DomainDnsZones,%s' % (zone, db.domain_dn())\n"
            "for name, address in json.loads(sys.argv[2]).items():\n"
            "    add_host_record(db, container, 'DC=' + name.lower()[:-len(zone) - 1], address, None)\n")
        done = subprocess.run(["/usr/bin/python3", "-c", script, str(conf), json.dumps(self.records), self.realm_name],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise TargetError(f"Samba AD DC mode: adding DNS records {self.records}: {done.stderr.strip()[-600:]}")

    def _tool(self, *args: str, config: bool = True) -> None:
        cmd = ["samba-tool", *args] + ([f"--configfile={self._dir / 'etc' / 'smb.conf'}"] if config else [])
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise TargetError(f"Samba AD DC mode: samba-tool {args[0]} {args[1]} failed: "
                              f"{(done.stderr or done.stdout).strip()[-600:]}")

    def __exit__(self, *exc) -> None:
        if self._samba is not None:
            self._samba.terminate()
            try:
                self._samba.wait(15)
            except subprocess.TimeoutExpired:
                self._samba.kill()
            self._samba = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
