"""``ee-builder publish``: the gate, then a push of the built image under the configured tags,
with progress, the pushed digest recorded and printed.

A registry changes a tag only when the whole push of that tag succeeded, so a failed push leaves
every previously published tag where it was; the error says which kind of failure it was. The
local tag the push needed is taken back too (removed, or moved back to its former image).
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from dataclasses import asdict, dataclass

from . import gate
from .engine import Engine
from .errors import UserError
from .labels import Git, git_facts
from .report import Reporter
from .settings import Settings

USERNAME_ENV, PASSWORD_ENV = "EE_REGISTRY_USERNAME", "EE_REGISTRY_PASSWORD"

# (pattern in the engine's error, cause, what to do). First match wins.
FAILURES = (
    (r"unauthorized|authentication required|denied: requested access|no basic auth credentials|incorrect username",
     "authentication", f"check the credentials: {USERNAME_ENV}/{PASSWORD_ENV}, or `docker login <registry>`"),
    (r"x509|certificate|tls:", "TLS",
     "the registry's certificate is not trusted by the engine: put its CA in /etc/docker/certs.d/<registry>/ca.crt"),
    (r"quota|insufficient storage|no space left|413|too large",
     "quota", "the registry refused the size: free space or raise the quota there"),
    (r"connection refused|no such host|i/o timeout|no route to host|network is unreachable|dial tcp|EOF",
     "network", "the registry did not answer: check its address and that it runs"),
)


@dataclass
class Plan:
    image: str          # local reference that is pushed
    image_id: str
    repository: str
    tags: list[str]

    @property
    def refs(self) -> list[str]:
        return [f"{self.repository}:{tag}" for tag in self.tags]


@dataclass
class Published:
    repository: str
    tags: list[str]
    digest: str
    image_id: str
    pushed_at: str

    @property
    def by_digest(self) -> str:
        return f"{self.repository}@{self.digest}"


def tags_for(settings: Settings, git: Git | None) -> list[str]:
    """The tags publish.tags asks for (pure)."""
    tags = []
    for kind in settings.publish.tags:
        if kind == "version":
            tags.append(settings.image.version)
        elif kind == "git":
            if git is None:
                raise UserError(f"{settings.path}: publish.tags: 'git' needs the project in a git repository "
                                f"({settings.root} is not one). Expected a clone, or drop 'git'.")
            tags.append(git.revision[:12] + ("-dirty" if git.dirty else ""))
        else:
            tags.append(kind)
    return tags


def classify(message: str) -> tuple[str, str]:
    for pattern, cause, advice in FAILURES:
        if re.search(pattern, message, re.IGNORECASE):
            return cause, advice
    return "unexpected", "see the engine's message above"


def plan(settings: Settings, engine: Engine) -> Plan:
    if settings.publish is None:
        raise UserError(f"{settings.path}: no publish: section. Expected publish.repository "
                        f"(e.g. registry.example.com/team/awx-ee), see the README's publishing section.")
    image = settings.image.refs[0]
    found = engine.image(image)
    if found is None:
        raise UserError(f"image {image}: not built yet. Run `ee-builder build` first, then publish.")
    return Plan(image, found.id, settings.publish.repository, tags_for(settings, git_facts(settings.root)))


def publish(settings: Settings, engine: Engine, reporter: Reporter, dry_run: bool = False) -> Published | None:
    target = plan(settings, engine)
    reporter.say(f"{target.image} ({target.image_id[:19]}) -> {', '.join(target.refs)}")
    reporter.say("gate: probing the image and reading every layer")
    verdict = gate.judge(engine, target.image)
    reporter.verdict(verdict)
    if not verdict.ok:
        raise UserError(f"publish: {target.image} refused by the gate; nothing was pushed.")
    if dry_run:
        reporter.say(f"dry run: would push {len(target.tags)} tag(s): {', '.join(target.refs)}")
        return None
    auth = registry_auth()
    digest = None
    pushed: list[str] = []
    for tag in target.tags:
        ref = f"{target.repository}:{tag}"
        before = engine.image(ref)
        engine.tag(target.image_id, [ref])
        reporter.say(f"pushing {ref}")
        try:
            digest = engine.push(target.repository, tag, auth, reporter.push_progress)
        except BaseException as err:
            # The registry kept its tag; the engine must keep its own too, so a failed (or
            # interrupted) publish changes nothing locally either.
            undo = _untag_failed(engine, ref, before, target.image_id)
            if not isinstance(err, UserError):
                raise
            cause, advice = classify(str(err))
            but = f", except {', '.join(pushed)}, pushed by this run before the failure" if pushed else ""
            raise UserError(f"push of {ref} failed ({cause}): {err}. {advice}. "
                            f"Tags already in the registry are unchanged{but}.{undo}") from None
        pushed.append(ref)
    published = Published(target.repository, target.tags, digest, target.image_id,
                          time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    record = _record(settings)
    record.parent.mkdir(exist_ok=True)
    record.write_text(json.dumps(asdict(published), indent=2) + "\n")
    reporter.say(f"pushed {published.by_digest} as {', '.join(target.tags)} (recorded in {record})")
    return published


def _untag_failed(engine: Engine, ref: str, before, image_id: str) -> str:
    """Put the local ``ref`` back as it was before publish tagged ``image_id`` with it (absent, or
    on ``before``); return "" or a sentence saying what could not be put back and what to do."""
    if before is not None and before.id == image_id:
        return ""
    try:
        engine.retag(ref, before.id if before is not None else None)
    except UserError as err:
        fix = f"{engine.kind} tag {before.id} {ref}" if before is not None else f"{engine.kind} rmi {ref}"
        return f" The local tag {ref} could not be put back ({err}): run `{fix}`."
    return ""


def _record(settings: Settings) -> Path:
    return settings.root / ".ee-builder" / "published.json"


def recorded(settings: Settings) -> Published:
    """What the last ``publish`` of this project pushed."""
    record = _record(settings)
    if not record.exists():
        raise UserError(f"{record}: no published image recorded. Expected `ee-builder publish` first, "
                        f"or --image <registry/repository@sha256:…>.")
    return Published(**json.loads(record.read_text()))


def image_for_awx(settings: Settings, given: str | None, engine: Engine | None) -> tuple[str, str | None]:
    """The image AWX objects should name, and a warning when AWX may not get the image checked:
    ``given``; else the digest publish recorded; else the image built here (``engine``)."""
    if given is not None:
        if "@sha256:" in given:
            return given, None
        return given, (f"--image {given} is a tag, not a digest: a tag can move, and AWX may then run another "
                       f"image than the one checked. Prefer <repository>@sha256:… (`ee-builder publish` prints it).")
    if _record(settings).exists():
        return recorded(settings).by_digest, None
    local = settings.image.refs[0]
    if engine is None or engine.image(local) is None:
        raise UserError(f"{_record(settings)}: no published image recorded, and no image {local} built here. "
                        f"Expected `ee-builder build` and `ee-builder publish` first, or --image "
                        f"<registry/repository@sha256:…>.")
    return local, (f"nothing published for this project: the objects name the image built here, {local}, which "
                   f"AWX cannot pull from a registry. Run `ee-builder publish`, then `ee-builder awx objects` again.")


def registry_auth() -> dict[str, str] | None:
    """Credentials from the environment; without them the engine's own login (docker config) applies."""
    user, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if user and password:
        return {"username": user, "password": password}
    return None
