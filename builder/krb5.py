"""krb5.conf: rendered from the ``kerberos:`` settings, and checked (any existing file) for the
pitfalls that break Kerberos to Windows from AWX job containers: lowercase realms, no
default_realm, no KDC, KEYRING/KCM credential caches, reverse-DNS rewriting of host names."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

REALM = re.compile(r"^[A-Z0-9][A-Z0-9.-]*$")
_BAD_CCACHE = re.compile(r"^(KEYRING|KCM):", re.IGNORECASE)


@dataclass(frozen=True)
class Realm:
    kdcs: tuple[str, ...] = ()
    admin_server: str | None = None


@dataclass(frozen=True)
class Kerberos:
    default_realm: str
    realms: dict[str, Realm]
    domain_realm: dict[str, str] = field(default_factory=dict)
    dns_lookup_kdc: bool = False
    dns_lookup_realm: bool = False
    dns_canonicalize_hostname: bool | str = False  # or "fallback"
    forwardable: bool = True
    ticket_lifetime: str = "10h"
    renew_lifetime: str = "7d"
    default_ccache_name: str = "FILE:/tmp/krb5cc_%{uid}"
    permitted_enctypes: tuple[str, ...] = ()
    includedir: str | None = None
    template: Path = Path("krb5/krb5.conf.j2")


def render(settings: Kerberos) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(settings.template.parent), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    values = {name: getattr(settings, name) for name in settings.__dataclass_fields__ if name != "template"}
    return env.get_template(settings.template.name).render(**values)


@dataclass(frozen=True)
class Finding:
    line: int
    problem: str
    fix: str

    @property
    def message(self) -> str:
        return f"{self.problem}. {self.fix}."


def check(text: str) -> list[Finding]:
    """Pitfalls in a krb5.conf, each with its line and what to do."""
    sections = _parse(text)
    libdefaults = {key: (value, line) for key, value, line in sections.get("libdefaults", [])}
    realms: dict[str, tuple[int, dict[str, list[str]]]] = {}
    for key, value, line in sections.get("realms", []):
        if isinstance(value, dict):
            realms[key] = (line, value)
    findings = []
    dns_finds_kdcs = libdefaults.get("dns_lookup_kdc", ("false", 0))[0].lower() == "true"
    default_realm, line = libdefaults.get("default_realm", (None, 0))
    if default_realm is None:
        findings.append(Finding(0, "no default_realm in [libdefaults]",
                                "Set default_realm to your AD realm in upper case (kinit of a bare user name fails without it)"))
    elif not REALM.match(default_realm):
        findings.append(Finding(line, f"default_realm {default_realm!r} is not upper case",
                                f"Kerberos realms are case-sensitive and AD's is upper case: use {default_realm.upper()}"))
    elif default_realm not in realms and not dns_finds_kdcs:
        findings.append(Finding(line, f"default_realm {default_realm} has no [realms] entry and dns_lookup_kdc is off",
                                f"Add {default_realm} = {{ kdc = <dc fqdn> }} under [realms]"))
    for name, (line, body) in realms.items():
        if not REALM.match(name):
            findings.append(Finding(line, f"realm {name!r} is not upper case", f"Rename it {name.upper()}"))
        if not body.get("kdc") and not dns_finds_kdcs:
            findings.append(Finding(line, f"realm {name} has no kdc and dns_lookup_kdc is off",
                                    "Add kdc = <domain controller fqdn> lines"))
    ccache, line = libdefaults.get("default_ccache_name", (None, 0))
    if ccache and _BAD_CCACHE.match(ccache):
        findings.append(Finding(line, f"default_ccache_name {ccache} does not work in containers",
                                "Use FILE:/tmp/krb5cc_%{uid}"))
    rdns, line = libdefaults.get("rdns", ("true", 0))
    if rdns.lower() not in ("false", "no", "0"):
        findings.append(Finding(line, "rdns is on (the default): host names are rewritten through reverse DNS, "
                                      "so the HTTP/<fqdn> SPN often does not match",
                                "Set rdns = false in [libdefaults]"))
    for key, value, line in sections.get("domain_realm", []):
        if isinstance(value, str) and not REALM.match(value):
            findings.append(Finding(line, f"domain_realm maps {key} to {value!r}, which is not upper case",
                                    f"Map it to {value.upper()}"))
    return findings


def _parse(text: str) -> dict[str, list[tuple[str, object, int]]]:
    """krb5.conf profile syntax: [section], key = value, key = { ... } (one level deep)."""
    sections: dict[str, list[tuple[str, object, int]]] = {}
    current: list | None = None
    block: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip() if not raw.strip().startswith(("#", ";")) else ""
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), [])
            block = None
        elif line == "}":
            block = None
        elif "=" in line and current is not None:
            key, value = (part.strip() for part in line.split("=", 1))
            if block is not None:
                block.setdefault(key, []).append(value)
            elif value == "{":
                block = {}
                current.append((key, block, number))
            else:
                current.append((key, value, number))
    return sections
