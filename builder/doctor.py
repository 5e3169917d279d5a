"""``ee-builder doctor``: from inside an image, walk the chain Kerberos to Windows needs and map each
failure to its known cause and fix.

A probe runs in a throw-away container of the image (the job's view: its krb5.conf, its kinit,
its DNS) and reports each check's exit code and output; ``diagnose`` (pure) maps outputs to the
causes users meet (see the failure table in the README). Before the Kerberos chain, the ``names``
probe says where the WinRM host's and the KDCs' names come from: ``/etc/hosts`` (what a pod's
hostAliases write) or DNS (cluster DNS, in AD shops a conditional forwarder for the realm's
domain to the domain controllers), and whether DNS has the realm's KDC SRV records. The password
reaches the container in its environment only, never a command line or this report.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from . import krb5, probes
from .engine import Engine
from .errors import UserError, last_lines
from .secrets import mask

PASSWORD_ENV = "EE_DOCTOR_PASSWORD"


@dataclass(frozen=True)
class Cause:
    pattern: str              # regex over a failing check's output
    cause: str
    fix: str
    checks: tuple[str, ...] = ()   # only for checks whose names start so (empty: any)


CLOCK_SKEW = Cause(r"Clock skew too great",
                   "the clocks of the job container's node and the domain controller differ by more than 5 minutes",
                   "synchronise the node with NTP (the same time source as the domain controllers)")


# Ordered: the first matching cause wins. From the failure table in the README.
CAUSES = (
    Cause(r"No such file or directory: 'kinit'|kinit: command not found|executable: kinit",
          "no Kerberos client (kinit) in the image",
          "build with a kerberos: section in ee-builder.yml (installs krb5-user / krb5-workstation)"),
    Cause(r"keyring|No KCM server",
          "a KEYRING or KCM credential cache, which does not work in containers",
          "set default_ccache_name = FILE:/tmp/krb5cc_%{uid} in krb5.conf"),
    Cause(r"Cannot find KDC for realm \"(?-i:[^\"]*[a-z][^\"]*)\"",
          "the realm is written in lower case; Kerberos realms are case-sensitive and AD's is upper case",
          "write the user as user@REALM in upper case, and realms upper case in krb5.conf"),
    Cause(r"Cannot find KDC for realm|does not specify default realm",
          "krb5.conf in the job container does not know this realm (missing, not at /etc/krb5.conf, or no default_realm)",
          "bake krb5.conf (kerberos: settings) or mount the ConfigMap at /etc/krb5.conf; Ansible's managed kinit "
          "ignores KRB5_CONFIG"),
    Cause(r"Cannot contact any KDC|Connection refused|timed out|No route to host|Name or service not known",
          "the KDC is unreachable from the job container",
          "check the kdc names in krb5.conf resolve from the pod and TCP/UDP 88 is open to the domain controllers",
          checks=("KDC", "kinit", "kvno")),
    CLOCK_SKEW,
    Cause(r"Password incorrect|Preauthentication failed",
          "wrong password for the user",
          "check the credential in AWX; note AD accounts can be locked or expired"),
    Cause(r"Client '?[^ ]+'? not found in Kerberos database",
          "the user does not exist in this realm",
          "check the user name and the realm after @"),
    Cause(r"Server '?HTTP/[0-9.]+@|Server '?HTTP/[0-9a-fA-F:]+@",
          "the host is given by IP address; Kerberos needs the name its HTTP/<fqdn> SPN is registered under",
          "use the host's FQDN as ansible_host (or ansible_winrm_kerberos_hostname_override)"),
    Cause(r"Server '?[^ ]+'? not found in Kerberos database",
          "no HTTP/<name> service principal for this host name (alias, short name, or reverse DNS rewrote it)",
          "connect by the FQDN the SPN is registered for, keep rdns = false, or register the SPN (setspn -S HTTP/<fqdn>)"),
    Cause(r"Name or service not known|nodename nor servname|Temporary failure in name resolution",
          "the host name does not resolve from the job container",
          "fix DNS for the pod (a conditional forwarder for the AD domain to the domain controllers in the "
          "cluster DNS), or add hostAliases to the container group pod spec"),
    Cause(r"Code 400|message encryption",
          "WinRM message encryption failed: a kerberos binding without WinRM encryption, or encryption turned off",
          "use pykerberos from PyPI built against MIT krb5 (ee-builder's image has it); keep ansible_winrm_message_encryption auto"),
    Cause(r"credentials were rejected|Code 401",
          "Windows rejected the authentication (user rights, channel binding, or wrong SPN account)",
          "check the user may use WinRM (Administrators or winrm configSDDL) and the SPN's account"),
    Cause(r"Connection refused|timed out|Max retries exceeded|No route to host",
          "no WinRM listener answers on that port",
          "check the port (5985 HTTP, 5986 HTTPS), the Windows firewall and `winrm enumerate winrm/config/listener`",
          checks=("win_ping",)),
    Cause(r"CERTIFICATE_VERIFY_FAILED",
          "the WinRM HTTPS certificate is not trusted",
          "give the CA (ansible_winrm_ca_trust_path) or trust it in the image (trust.ca_bundles, keep_in_final)",
          checks=("win_ping",)),
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    cause: str | None = None
    fix: str | None = None


@dataclass
class Diagnosis:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def diagnose(results: list[dict]) -> Diagnosis:
    """Map the probe's results (check, rc, output) to checks with causes and fixes."""
    return Diagnosis([_judge(r["check"], r["rc"], r["output"]) for r in results])


NAME_SOURCE = "name source "
KDC_SRV = "KDC SRV "


def name_fix(name: str) -> str:
    """What to do when ``name`` resolves neither way: the two setups a site can have."""
    domain = name.split(".", 1)[1] if "." in name else None
    forwarder = (f"a conditional forwarder for {domain} to the domain controllers in the cluster DNS "
                 f"(CoreDNS: a server block `{domain} {{ forward . <DC addresses> }}`)" if domain
                 else "the name's DNS zone")
    return (f"either fix DNS for the pod: {forwarder}; or, for sites without such DNS, add hostAliases for "
            f"{name} to the container group pod spec (ee-builder.yml awx.container_group.host_aliases)")


def name_source(check: Check) -> str | None:
    """``dns`` or ``hosts`` for a passed name-source check (which way the job container resolved
    the name), ``None`` otherwise."""
    if not check.name.startswith(NAME_SOURCE) or not check.ok:
        return None
    return "hosts" if " via /etc/hosts" in check.detail else "dns" if " via DNS" in check.detail else None


def _judge(name: str, rc: int, output: str) -> Check:
    if name.startswith(NAME_SOURCE):
        host = name[len(NAME_SOURCE):]
        if rc == 0:
            return Check(name, True, output)
        return Check(name, False, output, f"{host} resolves neither through /etc/hosts (hostAliases) nor DNS "
                                          "in the job container", name_fix(host))
    if name.startswith(KDC_SRV):
        realm = name[len(KDC_SRV):]
        if rc == 0:
            return Check(name, True, output)
        return Check(name, False, output, f"krb5.conf names no KDC for {realm} and DNS has no "
                                          f"_kerberos._tcp.{realm.lower()} SRV records",
                     f"add kdc = <domain controller FQDN> to the realm in krb5.conf, or give the pod DNS that "
                     f"serves the AD zone: a conditional forwarder for {realm.lower()} to the domain controllers")
    if name == "krb5.conf":
        if rc != 0:
            return Check(name, False, output, "no /etc/krb5.conf in the image",
                         "build with a kerberos: section or mount the ConfigMap at /etc/krb5.conf")
        findings = krb5.lint(output)
        if not findings:
            return Check(name, True, "no known pitfalls")
        return Check(name, False, "; ".join(f"line {f.line}: {f.problem}" if f.line else f.problem for f in findings),
                     "krb5.conf pitfalls", "; ".join(f.fix for f in findings))
    if name == "clock offset to KDC":
        if abs(int(output.rstrip("s"))) < 300:
            return Check(name, True, output)
        return Check(name, False, output, CLOCK_SKEW.cause, CLOCK_SKEW.fix)
    if name == "DNS reverse":  # rdns = false makes a mismatch harmless; report, never fail
        return Check(name, True, output)
    if rc == 0:
        if name == "klist -e":  # the encryption types are the point of -e
            output = "\n".join(line for line in output.splitlines() if "Etype" in line) or output
        return Check(name, True, " | ".join(last_lines(output, 3)))
    cause = next((c for c in CAUSES if (not c.checks or name.startswith(c.checks))
                  and re.search(c.pattern, output, re.IGNORECASE)), None)
    return Check(name, False, " | ".join(last_lines(output, 3)), cause.cause if cause else None,
                 cause.fix if cause else None)


def run(engine: Engine, image: str, host: str, user: str, password: str, port: int = 5985,
        network: str | None = "host", hosts: dict[str, str] | None = None,
        mounts: dict[str, str] | None = None, cert_validation: str = "validate") -> Diagnosis:
    engine.require(image)
    environment = {"EE_DOCTOR_HOST": host, "EE_DOCTOR_USER": user, "EE_DOCTOR_PORT": str(port),
                   PASSWORD_ENV: password,
                   "EE_DOCTOR_CERT_VALIDATION": cert_validation, "ANSIBLE_NOCOLOR": "1"}
    # One container: where the names come from, then the Kerberos chain.
    script = probes.source("names") + "\n" + probes.source("kerberos")
    rc, output = engine.run(image, ["-c", script], entrypoint=["python3"], network=network, hosts=hosts,
                            mounts=mounts, environment=environment, timeout=600)
    results = []
    for line in output.splitlines():
        try:
            results.append(json.loads(line))
        except ValueError:
            continue
    if not results:
        raise UserError(f"doctor: the probe did not run in {image} (exit {rc}): {' | '.join(last_lines(output, 5))}")
    return diagnosis_without_secret(diagnose(results), password)


def diagnosis_without_secret(diagnosis: Diagnosis, password: str) -> Diagnosis:
    """Tools echo what they got; the password must not reach the report."""
    for check in diagnosis.checks:
        check.detail = mask(check.detail, [password])
    return diagnosis
