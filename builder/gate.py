"""The gate before publishing (``ee-builder check IMAGE``): fails closed unless the image runs as
non-root, has kinit and a Kerberos binding with WinRM message encryption, and no layer or
history entry carries secret material: private keys, keytabs, or any password or token this
machine knows (secret-named environment variables, the container engine's registry credentials).

Layers are read from the engine's own export of the image (``docker save``), so what is checked
is what would be pushed.
"""
from __future__ import annotations

import base64
import json
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable

from .engine import Engine
from .features.kerberos import verify as kerberos_problems
from .inspect import Summary, inspect

# A PEM block, not just its header: libraries (gnutls, cryptography) contain the header as a constant.
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----\r?\n"
                         rb"(?:[A-Za-z-]+: [^\n]*\r?\n)*(?:\r?\n)?[A-Za-z0-9+/=]{40,}")
KEYTAB_MAGIC = b"\x05\x02"
SECRET_NAMES = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_?KEY|CREDENTIAL", re.IGNORECASE)
MIN_SECRET = 6          # shorter values match by chance
SCAN_LIMIT = 64 << 20   # bytes read per file; secrets live in small files


@dataclass(frozen=True)
class Secret:
    name: str               # where the value comes from, e.g. "environment REGISTRY_PASSWORD"
    value: bytes


@dataclass
class Leak:
    what: str
    path: str               # file in the layer, or "history"
    layer: int | None = None
    step: str = ""          # the history entry that made the layer

    def describe(self) -> str:
        where = f"layer {self.layer}" if self.layer is not None else "image history"
        step = f" ({self.step[:100]})" if self.step else ""
        return f"{self.what} in {self.path}, {where}{step}"


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
               if SECRET_NAMES.search(name) and len(value) >= MIN_SECRET]
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


def scan_file(path: str, content: bytes, secrets: Iterable[Secret]) -> list[str]:
    """What secret material one file holds (pure)."""
    found = []
    # Compiled programs and libraries embed known-answer test keys (gnutls does); a leaked key is a file.
    if not content.startswith(b"\x7fELF") and PRIVATE_KEY.search(content):
        found.append("a private key")
    if _is_keytab(content):
        found.append("a Kerberos keytab")
    for secret in secrets:
        if secret.value in content:
            found.append(f"the value of {secret.name}")
    return found


def _is_keytab(content: bytes) -> bool:
    """MIT keytab format 0x0502: the magic, then entries whose sizes fit the file."""
    if not content.startswith(KEYTAB_MAGIC) or len(content) < 10:
        return False
    size = int.from_bytes(content[2:6], "big", signed=True)
    return 0 < abs(size) <= len(content) - 6 and content[6:8] != b"\x00\x00"  # principal component count


def _masked(text: str, secrets: Iterable[Secret]) -> str:
    """The report names a secret, never shows it."""
    for secret in secrets:
        text = text.replace(secret.value.decode(errors="replace"), "********")
    return text


def scan_history(history: list[dict], secrets: Iterable[Secret]) -> list[Leak]:
    leaks = []
    for entry in history:
        created_by = entry.get("created_by", "")
        for secret in secrets:
            if secret.value in created_by.encode():
                leaks.append(Leak(f"the value of {secret.name}", "history", None, _masked(created_by, secrets)))
    return leaks


def scan_archive(stream: IO[bytes], secrets: list[Secret]) -> list[Leak]:
    """Scan a ``docker save`` archive in one pass: every file of every layer, then the history."""
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
                            for what in scan_file(entry.name, content, secrets):
                                per_layer.setdefault(member.name, []).append((what, "/" + entry.name.lstrip("./")))
            except tarfile.ReadError:
                continue  # not a layer (e.g. an OCI index blob)
    manifest = json.loads(documents["manifest.json"])[0]
    config = json.loads(documents[manifest["Config"]])
    steps = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    leaks = []
    for index, layer in enumerate(manifest["Layers"]):
        for what, path in per_layer.get(layer, []):
            leaks.append(Leak(what, path, index + 1, _masked(steps[index], secrets) if index < len(steps) else ""))
    return leaks + scan_history(config.get("history", []), secrets)


def check(engine: Engine, image: str, secrets: list[Secret] | None = None) -> Verdict:
    summary: Summary = inspect(engine, image)  # also: a clear error when the image is absent
    verdict = Verdict(image)
    user = summary.user.split(":")[0]  # USER may be user:group
    verdict.checks.append(("runs as non-root", user not in ("root (unset)", "0", "root"), f"USER {summary.user}"))
    if summary.probe_error:
        verdict.checks.append(("probe", False, summary.probe_error))
    problems = kerberos_problems(summary.kinit, summary.winrm_encryption)
    verdict.checks.append(("kinit present", bool(summary.kinit), summary.kinit or "missing"))
    verdict.checks.append(("pykerberos with WinRM encryption", summary.winrm_encryption is True,
                           "authGSSWinRMEncryptMessage present" if summary.winrm_encryption else "; ".join(problems)))
    verdict.leaks = scan_archive(engine.save(image), known_secrets() if secrets is None else secrets)
    verdict.checks.append(("no secret material in layers or history", not verdict.leaks,
                           f"{len(verdict.leaks)} finding(s)" if verdict.leaks else "none found"))
    return verdict
