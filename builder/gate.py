"""The gate before publishing (``ee-builder check IMAGE``): fails closed unless the image runs as
non-root, has kinit and a Kerberos binding with WinRM message encryption, and carries no secret.

The image is judged on its own: secret-named environment variables, labels and build arguments
with a value in its config and history; private keys, keytabs and credential files (.netrc, pip,
npm, git, Docker, AWS, kubeconfig) in any layer, also one level deep inside zip and tar files;
and, in every file, the values found there and any password or token this machine knows. Reports
name a finding, never show its value.

Layers are read from the engine's own export of the image (``docker save``), so what is checked
is what would be pushed.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator

import yaml

from .engine import Engine
from .features import FEATURES
from .summary import Summary, summarize
from .secrets import assignments, is_secret_name, is_set, mask

# A PEM block, not just its header: libraries (gnutls, cryptography) contain the header as a constant.
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----\r?\n"
                         rb"(?:[A-Za-z-]+: [^\n]*\r?\n)*(?:\r?\n)?[A-Za-z0-9+/=]{40,}")
KEYTAB_MAGIC = b"\x05\x02"
MIN_SECRET = 6          # shorter values match by chance
SCAN_LIMIT = 64 << 20   # bytes read per file; secrets live in small files
ARCHIVE_LIMIT = 32 << 20    # larger archives are not opened: they are data, not configuration
ARCHIVE_BYTES = 64 << 20    # members read per archive, so a zip bomb costs little

# Files whose tools read credentials from them, by the end of their path. Each is judged by its
# content too, so a template, or one that takes its token from the environment ($NPM_TOKEN), passes.
CREDENTIAL_FILES = ("pip.conf", "pip.ini", ".pypirc", ".npmrc", ".git-credentials", ".docker/config.json",
                    ".aws/credentials", ".config/containers/auth.json")
CREDENTIAL = re.compile(
    rb"[A-Za-z][\w+.-]*://[^\s/:@]*:[^\s/@$]+@"                                # URL user:password@
    rb"|^[ \t]*(?:password|aws_secret_access_key)[ \t]*[=:][ \t]*[^\s$]"        # INI (pip, pypirc, aws)
    rb"|_(?:authToken|auth|password)[ \t]*=[ \t]*[^\s$]"                        # npm
    rb'|"(?:auth|identitytoken)"[ \t]*:[ \t]*"[^"$]',                          # Docker, containers
    re.IGNORECASE | re.MULTILINE)
NETRC_FILES = (".netrc", "_netrc")
NETRC_PASSWORD = re.compile(rb"(?:^|\s)password\s+\S")  # netrc is whitespace-separated tokens
KUBECONFIG_LIMIT = 1 << 20
KUBE_CREDENTIALS = ("token", "password", "client-key-data")
ZIP_SUFFIXES = (".zip", ".whl", ".jar", ".egg")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class Secret:
    name: str               # where the value comes from, e.g. "environment REGISTRY_PASSWORD"
    value: bytes


@dataclass
class Leak:
    what: str
    path: str               # file in the layer, "history" or "the image config"
    layer: int | None = None
    step: str = ""          # the history entry that made the layer, masked when the leak is made

    def describe(self) -> str:
        where = (f", layer {self.layer}" if self.layer is not None else
                 ", image history" if self.path == "history" else "")
        # Masked before it is cut: a cut could separate a URL's password from its "@".
        step = f" ({mask(self.step)[:100]})" if self.step else ""
        return f"{mask(self.what)} in {mask(self.path)}{where}{step}"


@dataclass
class Verdict:
    image: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks) and not self.leaks


def known_secrets(environ: dict[str, str] | None = None, docker_config: Path | None = None) -> list[Secret]:
    """Passwords and tokens this machine knows: secret-named variables and registry credentials."""
    environ = dict(os.environ if environ is None else environ)
    secrets = [Secret(f"environment {name}", value.encode()) for name, value in environ.items()
               if is_secret_name(name) and len(value) >= MIN_SECRET]
    config = docker_config or Path(environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    try:
        auths = json.loads(config.read_text()).get("auths", {})
    except (OSError, ValueError):
        auths = {}
    for registry, entry in auths.items():
        try:
            password = base64.b64decode(entry.get("auth", "")).decode().split(":", 1)[1]
        except (ValueError, IndexError):
            continue
        if len(password) >= MIN_SECRET:
            secrets.append(Secret(f"registry credential for {registry}", password.encode()))
    return secrets


def config_settings(config: dict) -> Iterator[tuple[str, str, str]]:
    """(kind, name, value) of every secret-named setting with a value in an image config (the
    ``docker save`` config document: ``config.Env``, ``config.Labels``, ``history``)."""
    settings = config.get("config") or {}
    for entry in settings.get("Env") or []:
        name, _, value = entry.partition("=")
        if is_secret_name(name) and is_set(value):
            yield "environment variable", name, value
    for name, value in (settings.get("Labels") or {}).items():
        if is_secret_name(name) and is_set(value or ""):
            yield "label", name, value
    for entry in config.get("history") or []:
        for name, value in assignments(entry.get("created_by", "")):
            yield "history", name, value


def image_secrets(config: dict) -> list[Secret]:
    """The values an image sets under secret names: looked for in its files like known ones."""
    return _distinct([Secret(name, value.encode()) for _, name, value in config_settings(config)
                      if len(value) >= MIN_SECRET])


def scan_config(config: dict, secrets: Iterable[Secret]) -> list[Leak]:
    """Secret-named environment variables and labels the config sets (named, never shown), and
    history entries holding a secret value."""
    leaks = [Leak(f"{kind} {name} set", "the image config") for kind, name, _ in config_settings(config)
             if kind != "history"]
    return leaks + scan_history(config.get("history") or [], secrets)


def scan_history(history: list[dict], secrets: Iterable[Secret]) -> list[Leak]:
    """One leak per secret value in an entry: a known value, named by where it is known from, or
    the value of a secret-named assignment (``|1 TOKEN=… /bin/sh -c``, ``ENV``, ``ARG X=default``)."""
    secrets = list(secrets)
    leaks = []
    for entry in history:
        created_by = entry.get("created_by", "")
        found: dict[bytes, str] = {}
        for secret in secrets:
            if secret.value in created_by.encode():
                found.setdefault(secret.value, secret.name)
        for name, value in assignments(created_by):
            found.setdefault(value.encode(), name)
        step = mask(created_by, found)
        leaks += [Leak(f"the value of {name}", "history", None, step) for name in found.values()]
    return leaks


def scan_file(path: str, content: bytes, secrets: Iterable[Secret]) -> list[str]:
    """What secret material one file holds (pure)."""
    found = []
    # Compiled programs and libraries embed known-answer test keys (gnutls does); a leaked key is a file.
    if not content.startswith(b"\x7fELF") and PRIVATE_KEY.search(content):
        found.append("a private key")
    if _is_keytab(content):
        found.append("a Kerberos keytab")
    found += credential_files(path, content)
    for secret in secrets:
        if secret.value in content:
            found.append(f"the value of {secret.name}")
    return found


def credential_files(path: str, content: bytes) -> list[str]:
    """Credentials in the files tools read them from: judged by name and content (pure)."""
    name = "/" + path.lstrip("/")
    found = []
    if name.endswith(tuple("/" + n for n in NETRC_FILES)) and NETRC_PASSWORD.search(content):
        found.append("a .netrc with a password")
    for known in CREDENTIAL_FILES:
        if name.endswith("/" + known) and CREDENTIAL.search(content):
            found.append(f"a credential in {known}")
    fields = _kubeconfig_credentials(content)
    if fields:
        found.append(f"a kubeconfig with a user {' and '.join(fields)}")
    return found


def _kubeconfig_credentials(content: bytes) -> list[str]:
    """The credential fields set in a kubeconfig's users; none for any other file."""
    if b"kind: Config" not in content or len(content) > KUBECONFIG_LIMIT:
        return []
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError:
        return []
    if not isinstance(document, dict) or document.get("kind") != "Config":
        return []
    users = [entry.get("user") for entry in document.get("users") or [] if isinstance(entry, dict)]
    return [key for key in KUBE_CREDENTIALS if any(isinstance(u, dict) and u.get(key) for u in users)]


def _is_keytab(content: bytes) -> bool:
    """MIT keytab format 0x0502: the magic, then entries whose sizes fit the file."""
    if not content.startswith(KEYTAB_MAGIC) or len(content) < 10:
        return False
    size = int.from_bytes(content[2:6], "big", signed=True)
    return 0 < abs(size) <= len(content) - 6 and content[6:8] != b"\x00\x00"  # principal component count


def archive_members(path: str, content: bytes) -> Iterator[tuple[str, bytes]]:
    """The files of a zip or tar file small enough to open in memory (none for other files), up to
    ARCHIVE_BYTES in all; archives inside are not opened."""
    lower = path.lower()
    if len(content) > ARCHIVE_LIMIT or not lower.endswith(ZIP_SUFFIXES + TAR_SUFFIXES):
        return
    budget = ARCHIVE_BYTES
    try:
        if lower.endswith(ZIP_SUFFIXES):
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                for info in archive.infolist():
                    if budget <= 0:
                        return
                    if not info.is_dir():
                        with archive.open(info) as member:
                            data = member.read(budget)
                        budget -= len(data)
                        yield info.filename, data
        else:
            with tarfile.open(fileobj=io.BytesIO(content), mode="r:*") as archive:
                for info in archive:
                    if budget <= 0:
                        return
                    if info.isfile():
                        data = archive.extractfile(info).read(budget)
                        budget -= len(data)
                        yield info.name, data
    # Not an archive after all, damaged, encrypted or an unsupported compression: its bytes were
    # scanned as a file already.
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, RuntimeError, NotImplementedError, OSError):
        return


def scan_entry(path: str, content: bytes, secrets: Iterable[Secret]) -> list[tuple[str, str]]:
    """(what, where) for one layer file and, when it is an archive, each of its members as
    ``path!member``."""
    found = [(what, path) for what in scan_file(path, content, secrets)]
    for member, data in archive_members(path, content):
        found += [(what, f"{path}!{member}") for what in scan_file(member, data, secrets)]
    return found


def scan_archive(stream: IO[bytes], secrets: list[Secret]) -> list[Leak]:
    """Scan a ``docker save`` archive in one pass: every file of every layer, then the config.
    ``secrets`` are the values to look for in files, the image's own (``image_secrets``) included:
    the archive may hold its config after the layers."""
    per_layer: dict[str, list[tuple[str, str]]] = {}
    documents: dict[str, bytes] = {}
    with tarfile.open(fileobj=stream, mode="r|") as outer:
        for member in outer:
            if not member.isfile():
                continue
            handle = outer.extractfile(member)
            if member.name == "manifest.json" or (member.name.endswith(".json") and member.size < 1 << 20):
                documents[member.name] = handle.read()
                continue
            try:
                with tarfile.open(fileobj=handle, mode="r|") as layer:
                    for entry in layer:
                        if entry.isfile() and entry.size:
                            content = layer.extractfile(entry).read(SCAN_LIMIT)
                            path = "/" + entry.name.removeprefix("./").lstrip("/")
                            per_layer.setdefault(member.name, []).extend(scan_entry(path, content, secrets))
            except tarfile.ReadError:
                continue  # not a layer (e.g. an OCI index blob)
    manifest = json.loads(documents["manifest.json"])[0]
    config = json.loads(documents[manifest["Config"]])
    steps = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    values = [s.value for s in secrets]
    leaks = []
    for index, layer in enumerate(manifest["Layers"]):
        for what, path in per_layer.get(layer, []):
            leaks.append(Leak(what, path, index + 1, mask(steps[index], values) if index < len(steps) else ""))
    return leaks + scan_config(config, secrets)


def judge(engine: Engine, image: str, secrets: list[Secret] | None = None) -> Verdict:
    summary: Summary = summarize(engine, image)  # also: a clear error when the image is absent
    verdict = Verdict(image)
    user = summary.user.split(":")[0]  # USER may be user:group
    verdict.checks.append(("runs as non-root", user not in ("root (unset)", "0", "root"), f"USER {summary.user}"))
    if summary.probe_error:
        verdict.checks.append(("probe", False, summary.probe_error))
    for feature in FEATURES:  # what each feature needs the image to show (Kerberos: kinit, encryption, krb5.conf)
        verdict.checks.extend(feature.image_checks(summary))
    verdict.leaks = scan(engine, image, secrets)
    verdict.checks.append(("no secret material in layers or history", not verdict.leaks,
                           f"{len(verdict.leaks)} finding(s)" if verdict.leaks else "none found"))
    return verdict


def scan(engine: Engine, image: str, secrets: list[Secret] | None = None) -> list[Leak]:
    """The secret scan of ``judge`` alone (layers, history, config): for images that do not run,
    such as the wheel image of the build cache. ``secrets``: default, the ones this machine knows."""
    known = known_secrets() if secrets is None else secrets
    return scan_archive(engine.save(image), _distinct(known + image_secrets(_config(engine, image))))


def _config(engine: Engine, image: str) -> dict:
    """The image's config in the shape of its ``docker save`` document, from the engine's inspect
    and history: known before the export streams, so its values are looked for in every layer."""
    found = engine.require(image)
    return {"config": {"Env": list(found.env), "Labels": found.labels},
            "history": [{"created_by": created_by} for created_by in engine.history(image)]}


def _distinct(secrets: list[Secret]) -> list[Secret]:
    """One secret per value, the first named: a value both known here and set in the image is
    reported once, under the name this machine knows it by."""
    named: dict[bytes, Secret] = {}
    for secret in secrets:
        named.setdefault(secret.value, secret)
    return list(named.values())
