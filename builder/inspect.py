"""What an image holds: versions, collections, user, entrypoint, labels, size.

The numbers come from the image itself (a throw-away container runs a small probe), not from the
definition, so ``ee-builder inspect`` tells the truth about any image.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .engine import Engine
from .errors import UserError

PROBE = r"""
import json, os, platform, shutil, subprocess, tempfile
from importlib import metadata

def version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None

def collections():
    try:
        # Any UID may run this (AWX uses arbitrary ones): give ansible a writable HOME.
        env = dict(os.environ, HOME=tempfile.mkdtemp())
        out = subprocess.run(["ansible-galaxy", "collection", "list", "--format", "json"],
                             capture_output=True, text=True, timeout=120, env=env).stdout
        found = {}
        for path in json.loads(out or "{}").values():
            for name, info in path.items():
                if not name.split(".")[-1].startswith("_"):  # ansible-core's internal collections
                    found.setdefault(name, info.get("version"))
        return found
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}

def winrm_encryption():
    try:
        import kerberos
        return hasattr(kerberos, "authGSSWinRMEncryptMessage")
    except ImportError:
        return None

def krb5_realm():
    try:
        for line in open("/etc/krb5.conf"):
            key, _, value = line.partition("=")
            if key.strip() == "default_realm":
                return value.strip()
        return ""
    except OSError:
        return None

print(json.dumps({
    "python": platform.python_version(),
    "ansible_core": version("ansible-core"),
    "ansible_runner": version("ansible-runner"),
    "pywinrm": version("pywinrm"),
    "pykerberos": version("pykerberos"),
    "winrm_encryption": winrm_encryption(),
    "kinit": shutil.which("kinit"),
    "krb5_realm": krb5_realm(),
    "uid": os.getuid(),
    "collections": collections(),
}))
"""


@dataclass
class Summary:
    image: str
    id: str
    tags: list[str]
    size_mb: float
    created: str
    user: str
    entrypoint: list[str]
    cmd: list[str]
    labels: dict[str, str]
    python: str | None = None
    ansible_core: str | None = None
    ansible_runner: str | None = None
    pywinrm: str | None = None
    pykerberos: str | None = None
    winrm_encryption: bool | None = None
    kinit: str | None = None
    krb5_realm: str | None = None   # default_realm of /etc/krb5.conf; "" without one, None without the file
    uid: int | None = None
    collections: dict[str, str] = field(default_factory=dict)
    probe_error: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def inspect(engine: Engine, ref: str) -> Summary:
    image = engine.image(ref)
    if image is None:
        raise UserError(f"image {ref}: not found in the {engine.kind} engine at {engine.where}. "
                        f"Expected a local image name or ID (build it with `make build`, or pull it).")
    config = image.attrs.get("Config") or {}
    summary = Summary(
        image=ref, id=image.id, tags=list(image.tags), size_mb=round(image.attrs.get("Size", 0) / 1e6, 1),
        created=image.attrs.get("Created", ""), user=config.get("User") or "root (unset)",
        entrypoint=config.get("Entrypoint") or [], cmd=config.get("Cmd") or [], labels=config.get("Labels") or {},
    )
    rc, output = engine.run(image.id, ["-c", PROBE], entrypoint=["python3"])
    lines = output.strip().splitlines()
    try:
        probed = json.loads(lines[-1]) if rc == 0 and lines else None
    except ValueError:
        probed = None
    if probed is None:
        summary.probe_error = f"probe exited {rc}: " + " | ".join(lines[-3:])
    else:
        for key, value in probed.items():
            setattr(summary, key, value)
    return summary
