"""krb5.conf: rendered from the ``kerberos:`` settings, and checked (any existing file) for the
pitfalls that break Kerberos to Windows from AWX job containers: lowercase realms, no
default_realm, no KDC, KEYRING/KCM credential caches, reverse-DNS rewriting of host names.

krb5.conf has no quoting for keys and none for most values, so every value that reaches it is
held to the grammar of its field (the patterns below, used by the settings schema too), the
renderer refuses anything that could start a line, section or block, and MIT krb5's own parser
reads the result before it goes into an image or a ConfigMap.
"""
from __future__ import annotations

import ctypes.util
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import jinja2
import jinja2.sandbox

from . import files
from .errors import UserError, last_lines

if TYPE_CHECKING:
    from .settings import Kerberos

# The grammar of each field, as regular expressions matched against the whole value.
REALM_NAME = r"[A-Z0-9](?:[A-Z0-9._-]*[A-Z0-9])?"
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
HOST_NAME = rf"{_LABEL}(?:\.{_LABEL})*\.?"
DOMAIN = rf"\.?{HOST_NAME}"                      # domain_realm keys: a host, or .domain for all below it
# Host names and IPv4 addresses (an IPv6 literal's brackets could open a section: not supported).
KDC_ADDRESS = rf"(?:(?:tcp|udp)/)?{HOST_NAME}(?::[0-9]{{1,5}})?"
DURATION = r"[0-9]+|(?=[0-9])(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?|[0-9]+:[0-9]{1,2}(?::[0-9]{1,2})?"
CCACHE = r"(?:FILE|DIR|MEMORY):[A-Za-z0-9_./%{}-]+"
ABSOLUTE_PATH = r"/[A-Za-z0-9_./-]*"
# MIT krb5's enctype names and families (krb5.conf(5)); a leading - or + removes or adds one.
ENCTYPES = (
    "aes256-cts-hmac-sha1-96", "aes256-cts", "aes256-sha1", "aes128-cts-hmac-sha1-96", "aes128-cts",
    "aes128-sha1", "aes256-cts-hmac-sha384-192", "aes256-sha2", "aes128-cts-hmac-sha256-128", "aes128-sha2",
    "des3-cbc-sha1", "des3-hmac-sha1", "des3-cbc-sha1-kd", "arcfour-hmac", "rc4-hmac", "arcfour-hmac-md5",
    "camellia256-cts-cmac", "camellia256-cts", "camellia128-cts-cmac", "camellia128-cts",
    "des", "des3", "aes", "rc4", "camellia", "DEFAULT",
)
ENCTYPE = r"[+-]?(?:" + "|".join(re.escape(name) for name in ENCTYPES) + ")"

REALM = re.compile(REALM_NAME)
_BAD_CCACHE = re.compile(r"^(KEYRING|KCM):", re.IGNORECASE)
# What the renderer writes for one value: a single word that cannot begin a comment, a section,
# a block or a new relation (no white space, '=', '#', ';', '[', ']', '"', and no leading brace).
_WORD = re.compile(r"(?![{}])[A-Za-z0-9_.:/%@+,{}*-]+")


def render(settings: Kerberos) -> str:
    """krb5.conf from ``settings`` through its template, proven readable by MIT krb5."""
    template = settings.template
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(template.parent), trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, finalize=_word)
    values = {item.name: getattr(settings, item.name) for item in fields(settings) if item.name != "template"}
    source = files.read_text(template, "krb5.conf template")
    try:
        text = env.from_string(source).render(**values)
    except jinja2.TemplateSyntaxError as err:
        raise UserError(f"{template}:{err.lineno}: krb5.conf template syntax error: {err.message}. "
                        f"Fix the template there.") from None
    except jinja2.UndefinedError as err:
        raise UserError(f"{template}: krb5.conf template uses an undefined value: {err.message}. Expected only "
                        f"the kerberos: settings ({', '.join(sorted(values))}).") from None
    except jinja2.TemplateError as err:
        raise UserError(f"{template}: krb5.conf template failed: {err}. Fix the template.") from None
    except _Unsafe as err:
        raise UserError(f"{template}: the value {err.value!r} would be written into krb5.conf, but it is not a "
                        f"single krb5.conf word (letters, digits and . _ - : / % @ + , {{ }}) and could change the "
                        f"file's structure. Fix the kerberos: setting that holds it.") from None
    rendered_realm = {key: value for key, value, _ in _parse(text).get("libdefaults", [])}.get("default_realm")
    if rendered_realm != settings.default_realm:
        raise UserError(f"{template}: the krb5.conf it renders has default_realm {rendered_realm!r} in [libdefaults], "
                        f"not kerberos.default_realm {settings.default_realm!r}. Expected a krb5.conf template "
                        f"that writes default_realm = {{{{ default_realm }}}} (see krb5/krb5.conf.j2).")
    problem = mit_error(text)
    if problem:
        raise UserError(f"{template}: the krb5.conf it renders cannot be read by MIT krb5: {problem}. "
                        f"Fix the template or the kerberos: settings (`ee-builder krb5 render` shows the result).")
    return text


class _Unsafe(Exception):
    def __init__(self, value: str):
        self.value = value


def _word(value: object) -> str:
    """Every ``{{ value }}`` goes through here: lists become space-separated words, booleans
    krb5's true/false, and anything that is not one plain word is refused."""
    if isinstance(value, (list, tuple)):
        return " ".join(_word(item) for item in value)
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    if not _WORD.fullmatch(text):
        raise _Unsafe(text)
    return text


# Run in a child process: KRB5_CONFIG is read once per process, and a crash stays there.
_MIT_PARSE = """
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.krb5_get_error_message.restype = ctypes.c_char_p
context = ctypes.c_void_p()
code = lib.krb5_init_context(ctypes.byref(context))
if code:
    print(lib.krb5_get_error_message(None, code).decode(errors="replace"))
    sys.exit(1)
"""
_INCLUDES = re.compile(r"^\s*(include|includedir|module)\s", re.MULTILINE)


def mit_error(text: str) -> str | None:
    """MIT krb5's own verdict on krb5.conf ``text``: None when its profile library reads it,
    else its message. Include lines are left out: they name this host's files, not the image's."""
    library = ctypes.util.find_library("krb5")
    if library is None:
        raise UserError("MIT krb5's library (libkrb5.so.3) is not on this host; ee-builder uses it to prove "
                        "krb5.conf parses before it goes into an image or a ConfigMap. Install it "
                        "(Debian/Ubuntu: apt-get install libkrb5-3; RHEL family: dnf install krb5-libs).")
    with tempfile.NamedTemporaryFile("w", prefix="ee-builder-krb5-", suffix=".conf") as conf:
        conf.write(_INCLUDES.sub(lambda m: "#" + m.group(0).lstrip(), text))
        conf.flush()
        result = subprocess.run([sys.executable, "-c", _MIT_PARSE, library], capture_output=True, text=True,
                                timeout=60, env={"KRB5_CONFIG": conf.name, "PATH": "/usr/bin:/bin"})
    if result.returncode == 0:
        return None
    return (last_lines(result.stdout, 1) or last_lines(result.stderr, 1) or [f"exit status {result.returncode}"])[0]


def realm_problem(name: str) -> str | None:
    """Why ``name`` is not a proper realm name, or None."""
    if REALM.fullmatch(name):
        return None
    if REALM.fullmatch(name.upper()):
        return "is not upper case (Kerberos compares realms exactly, and Active Directory's is upper case)"
    return "is not a realm name (upper-case letters, digits, '.', '-' and '_', such as AD.EXAMPLE.COM)"


def realm_fix(name: str, fix: str, otherwise: str = "Use a realm name such as AD.EXAMPLE.COM") -> str:
    """``fix`` (with ``{}`` for the upper-case name) when case is the only problem, else ``otherwise``."""
    return fix.format(name.upper()) if REALM.fullmatch(name.upper()) else otherwise


@dataclass(frozen=True)
class Finding:
    line: int
    problem: str
    fix: str

    @property
    def message(self) -> str:
        return f"{self.problem}. {self.fix}."


def lint(text: str) -> list[Finding]:
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
    elif realm_problem(default_realm):
        findings.append(Finding(line, f"default_realm {default_realm!r} {realm_problem(default_realm)}",
                                realm_fix(default_realm, "Kerberos realms are case-sensitive: use {}")))
    elif default_realm not in realms and not dns_finds_kdcs:
        findings.append(Finding(line, f"default_realm {default_realm} has no [realms] entry and dns_lookup_kdc is off",
                                f"Add {default_realm} = {{ kdc = <dc fqdn> }} under [realms]"))
    for name, (line, body) in realms.items():
        if realm_problem(name):
            findings.append(Finding(line, f"realm {name!r} {realm_problem(name)}", realm_fix(name, "Rename it {}")))
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
        if isinstance(value, str) and realm_problem(value):
            findings.append(Finding(line, f"domain_realm maps {key} to {value!r}, which {realm_problem(value)}",
                                    realm_fix(value, "Map it to {}")))
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
