"""What an image holds: versions, collections, user, entrypoint, labels, size.

The numbers come from the image itself (a throw-away container runs a small probe), not from the
definition, so ``ee-builder inspect`` tells the truth about any image.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from . import probes
from .engine import Engine
from .errors import last_lines


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
    krb5_version: str | None = None
    krb5_conf_error: str | None = None  # MIT krb5's message when it cannot read /etc/krb5.conf
    receptor: str | None = None
    python_packages: dict[str, str] = field(default_factory=dict)
    uid: int | None = None
    collections: dict[str, str] = field(default_factory=dict)
    manifest: dict | None = None    # the content manifest the build stored in the image
    probe_error: str | None = None
    build_cache: dict | None = None  # set by a build: steps and wheels that came from a cache

    @property
    def from_cache(self) -> str | None:
        """What a build took from caches, in words."""
        c = self.build_cache
        if c is None:
            return None
        wheels = f"{c['wheels_seeded']} wheel(s) reused"
        if c["wheels_from_registry"]:
            wheels += f" ({c['wheels_from_registry']} from the registry)"
        return f"{c['steps_cached']} of {c['steps']} steps from the layer cache; {wheels}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def summarize(engine: Engine, ref: str) -> Summary:
    """What ``ref`` holds: the engine's facts, and the probe's from inside a throw-away container."""
    image = engine.require(ref)
    summary = Summary(
        image=ref, id=image.id, tags=list(image.tags), size_mb=round(image.size / 1e6, 1), created=image.created,
        user=image.user or "root (unset)", entrypoint=list(image.entrypoint), cmd=list(image.cmd),
        labels=dict(image.labels),
    )
    rc, output = engine.run(image.id, ["-c", probes.source("image")], entrypoint=["python3"])
    lines = output.strip().splitlines()
    try:
        probed = json.loads(lines[-1]) if rc == 0 and lines else None
    except ValueError:
        probed = None
    if probed is None:
        summary.probe_error = f"probe exited {rc}: " + " | ".join(last_lines(output, 3))
    else:
        for key, value in probed.items():
            setattr(summary, key, value)
    return summary
