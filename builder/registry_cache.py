"""The build cache in a registry (``build --cache-from-registry`` / ``--cache-to-registry``), for CI
runners that start with an empty engine and no kept wheels.

Two things travel, both under ``build.cache`` (default ``<publish.repository>-cache``):

- **Wheels**: what the builder stage compiled (pykerberos, gssapi, krb5: minutes of compiling),
  as a small ``FROM scratch`` image holding pip's ``wheels/`` cache and a JSON record of what they
  were compiled on and of every file's sha256. Tagged ``wheels-<key>`` by the hash of the Python,
  the base and the requirements, and ``wheels-<key>-any`` by the Python and base alone, which a
  changed requirement list falls back to (pip's cache is keyed by the sdist, so a wheel of another
  package is simply not used; a wheel of another base or Python never is: the record is checked).
- **Layers** (Docker): the images the stages ended with (``stage-builder``, ``stage-galaxy`` and
  the gated image as ``stage-final``), given back to Docker's classic builder as ``cache_from``.
  Podman 4.3 takes no layers from pulled images (measured: no step reused), so there the cache
  carries the wheels only.

A cache that is missing, unreachable or does not match warns once and the build goes on cold:
the cache can make a build faster, never fail it. Nothing is pushed before the image passed the
gate, and the wheel image and the stage images go through the gate's secret scan first.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import gate
from .engine import Engine, Image
from .errors import BuildFailed, UserError
from .progress import Progress
from .publish import classify, registry_auth

RECORD = "ee-builder-wheels.json"
FORMAT = 1
STAGES = ("galaxy", "builder")   # in the Containerfile's order; the final stage is the gated image itself
_MISSING = re.compile(r"not found|manifest unknown|does not exist|no such image|name unknown", re.IGNORECASE)


@dataclass(frozen=True)
class WheelKey:
    """What compiled wheels depend on. ``python`` and ``base`` decide whether a wheel can be used
    at all; ``requirements`` only which set is the exact one."""
    python: str
    base: str
    requirements: str

    def tag(self, exact: bool = True) -> str:
        parts = [self.python, self.base] + ([self.requirements] if exact else [])
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]
        return f"wheels-{digest}" if exact else f"wheels-{digest}-any"

    def as_dict(self) -> dict[str, str]:
        return {"python": self.python, "base": self.base, "requirements": self.requirements}


def wheel_key(containerfile: str, requirements: str, base: Image) -> WheelKey:
    """The key of a context's wheels (pure). The interpreter is what PYCMD names and the base stage
    installs; the base is its layers' content and platform, not its tag or config (a base
    re-imported from the same root filesystem is the same base); the requirements are the
    composed requirements.txt, constraints included."""
    pycmd = next((line for line in containerfile.splitlines() if line.startswith("ARG PYCMD=")), "ARG PYCMD=")
    stages = re.split(r"^FROM ", containerfile, flags=re.MULTILINE)
    base_stage = next((stage for stage in stages if re.match(r"\S+ AS base\b", stage)), "")
    python = hashlib.sha256(f"{pycmd}\n{base_stage}".encode()).hexdigest()
    layers = hashlib.sha256((f"{base.platform}\n" + "\n".join(base.layers)).encode()).hexdigest()
    return WheelKey(python, layers, hashlib.sha256(requirements.encode()).hexdigest())


def file_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, by its relative path."""
    return {str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(directory.rglob("*")) if path.is_file()}


def problem(record: dict, key: WheelKey, exact: bool, directory: Path) -> str | None:
    """Why the wheels in ``directory``, described by ``record``, must not be used; None when they
    may (pure but for reading the files)."""
    if record.get("format") != FORMAT:
        return f"unknown record format {record.get('format')!r}"
    theirs = record.get("key") or {}
    if theirs.get("base") != key.base or theirs.get("python") != key.python:
        return "compiled on another base or Python"
    if exact and theirs.get("requirements") != key.requirements:
        return "the record's requirements do not match its tag"
    if file_hashes(directory) != record.get("files"):
        return "the files do not match the sha256 sums in their record (corrupt or altered)"
    return None


def stage_from(containerfile: str, stage: str, image: str) -> str:
    """``containerfile`` with ``stage`` taken from ``image`` (an image built as that stage) instead
    of its steps (pure)."""
    lines, out, skipping = containerfile.splitlines(keepends=True), [], False
    for line in lines:
        if line.startswith("FROM "):
            skipping = bool(re.match(rf"FROM \S+ AS {re.escape(stage)}\s*$", line))
            if skipping:
                out.append(f"FROM {image} AS {stage}\n")
                continue
        if not skipping:
            out.append(line)
    return "".join(out)


@dataclass
class Restored:
    """What ``Restore`` got: wheels put into the kept-wheels directory, and images for cache_from."""
    wheels: int = 0
    wheels_tag: str | None = None
    images: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Restore:
    """Pull the cache of ``repository``. The gated image (``stage-final``: the base stage's layers
    and the final stage's) starts pulling at once, while the build composes its context, which
    the wheels' key needs; ``wheels`` then takes the wheels. When the exact wheel tag is there, the
    requirements are those the cache was pushed with, and the galaxy and builder stage images are
    pulled too, side by side; otherwise those stages are built again from their changed inputs,
    and their images (the builder's holds the compilers) would be pulled for nothing. ``finish``
    keeps the images built on this base. One warning when the registry cannot be reached."""

    def __init__(self, engine: Engine, repository: str, progress: Progress):
        self.engine, self.repository, self.progress = engine, repository, progress
        self.auth = registry_auth()
        self.restored = Restored()
        self._pool = ThreadPoolExecutor(len(STAGES) + 1)
        self._stages = {}
        if engine.kind == "docker":
            self._pull_stages(["final"])

    def _pull_stages(self, stages: list[str]) -> None:
        for stage in stages:
            ref = f"{self.repository}:stage-{stage}"
            self._stages[ref] = self._pool.submit(self._pull, ref)

    def _pull(self, ref: str) -> str | None:
        """None when pulled or absent; else the warning."""
        self.progress.say(f"build cache: pulling {ref}")
        reason = self.engine.pull(ref, self.auth)
        if reason is None or _MISSING.search(reason):
            return None
        cause, advice = classify(reason)
        return f"cannot pull {ref} ({cause}: {reason}); {advice}"

    def wheels(self, key: WheelKey, kept: Path) -> Restored:
        """The wheels for ``key`` (or, with other requirements, for its base and Python), checked
        against their record and merged into ``kept`` (pip's wheel cache layout)."""
        restored = self.restored
        for exact in (True, False):
            ref = f"{self.repository}:{key.tag(exact)}"
            if (unreachable := self._pull(ref)) is not None:
                restored.warnings.append(unreachable)
                return restored
            if self.engine.image(ref) is None:
                continue
            if exact and self.engine.kind == "docker":
                self._pull_stages(list(STAGES))
            if why := _take_wheels(self.engine, ref, key, exact, kept, restored):
                restored.warnings.append(f"{ref} not used: {why}")
            else:
                break
        else:
            if not restored.warnings:
                restored.warnings.append(f"no wheels for this base, Python and requirements in {self.repository} "
                                         f"yet (they are pushed by a build with --cache-to-registry)")
        if restored.wheels_tag and restored.wheels_tag.endswith("-any"):
            self.progress.say("build cache: the requirements changed since the cache was pushed: the galaxy and "
                              "builder stages are built again, so their images are not pulled")
        return restored

    def finish(self, base: Image) -> Restored:
        """Wait for the stage images and keep those built on ``base``; say what came."""
        restored = self.restored
        failures = [w for w in (future.result() for future in self._stages.values()) if w is not None]
        self._pool.shutdown()
        if failures and not any(w.startswith("cannot pull") for w in restored.warnings):
            restored.warnings.append(failures[0])
        pulled = [ref for ref in self._stages if self.engine.image(ref) is not None]
        # An image built on another base (an upgraded one) has no layer for this build to reuse.
        restored.images = [ref for ref in pulled if self.engine.image(ref).layers[:len(base.layers)] == base.layers]
        if pulled and not restored.images:
            self.progress.say("build cache: the stage images were built on another base; not used")
        for warning in restored.warnings:
            self.progress.say(f"warning: build cache: {warning}; going on without it")
        parts = ([f"{restored.wheels} wheel(s) from {restored.wheels_tag}"] if restored.wheels else []) + \
                ([f"{len(restored.images)} stage image(s) for the layer cache"] if restored.images else [])
        if parts:
            self.progress.say(f"build cache {self.repository}: " + ", ".join(parts))
        return restored


def restore(engine: Engine, repository: str, key: WheelKey, base: Image, kept: Path,
            progress: Progress) -> Restored:
    """All of ``Restore`` at once."""
    pulling = Restore(engine, repository, progress)
    pulling.wheels(key, kept)
    return pulling.finish(base)


def _take_wheels(engine: Engine, ref: str, key: WheelKey, exact: bool, kept: Path, restored: Restored) -> str | None:
    """Check the pulled wheel image and merge its wheels into ``kept``; return why not, if not."""
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".cache-", dir=kept.parent) as tmp:
        wheels, record_file = Path(tmp) / "wheels", Path(tmp) / RECORD
        try:
            if not (engine.copy_out(ref, "/wheels", wheels) and engine.copy_out(ref, f"/{RECORD}", record_file)):
                return "it holds no wheels or no record"
            record = json.loads(record_file.read_text())
        except (OSError, ValueError) as err:
            return f"its record is unreadable ({err})"
        finally:
            engine.remove(ref)
        why = problem(record, key, exact, wheels) if isinstance(record, dict) else "its record is not a mapping"
        if why:
            return why
        for path in wheels.rglob("*"):
            if path.is_file():
                target = kept / path.relative_to(wheels)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        restored.wheels = sum(1 for name in record["files"] if name.endswith(".whl"))
        restored.wheels_tag = ref
    return None


def save(engine: Engine, repository: str, key: WheelKey, kept: Path, stages: dict[str, str],
         image_id: str | None, python: str | None, progress: Progress) -> list[str]:
    """Push the cache after the gate passed the image ``image_id``: the wheels (scanned like the
    image), and for Docker the stage images and the image. Returns the warnings; a failed push
    never fails the build."""
    auth = registry_auth()
    warnings: list[str] = []
    candidates: list[tuple[str, list[str], str]] = []   # (image, tags, what)
    if any(kept.rglob("*.whl")):
        with tempfile.TemporaryDirectory(prefix="ee-builder-wheels-") as tmp:
            artifact = _wheel_image(engine, Path(tmp), key, kept, python)
        candidates.append((artifact, [key.tag(True), key.tag(False)], "the wheels"))
    if engine.kind == "docker" and image_id:
        candidates += [(stages[name], [f"stage-{name}"], f"the {name} stage") for name in STAGES if name in stages]
    pushes: list[tuple[str, str]] = []
    for source, tags, what in candidates:
        # The gated image is not all that goes: the stage images hold what the build stages did
        # (pip's caches, build dependencies), and are scanned like it.
        progress.say(f"build cache: the gate's secret scan of {what}")
        leaks = gate.scan(engine, source)
        if leaks:
            warnings.append(f"the gate found secret material in {what}, so it is not pushed: "
                            + "; ".join(leak.describe() for leak in leaks))
        else:
            pushes += [(source, tag) for tag in tags]
    if engine.kind == "docker" and image_id:
        pushes.append((image_id, "stage-final"))
    refs = [f"{repository}:{tag}" for _, tag in pushes]
    for (source, _), ref in zip(pushes, refs):
        engine.tag(source, [ref])
    try:
        for ref in refs:
            progress.say(f"build cache: pushing {ref}")
            try:
                engine.push(repository, ref.rsplit(":", 1)[1], auth, lambda event: None)
            except UserError as err:
                cause, advice = classify(str(err))
                warnings.append(f"pushing {ref} failed ({cause}: {err}); {advice}")
                break
    finally:
        # The stage tags stay: untagging the last tag of a stage's image would delete it, and with
        # it this machine's own layer cache. The wheel image is only a vehicle.
        for ref in refs:
            if ":wheels-" in ref:
                engine.remove(ref, prune=False)
    for warning in warnings:
        progress.say(f"warning: build cache: {warning}; the image itself is built and tagged")
    return warnings


def _wheel_image(engine: Engine, context: Path, key: WheelKey, kept: Path, python: str | None) -> str:
    shutil.copytree(kept, context / "wheels")
    record = {"format": FORMAT, "key": key.as_dict(), "python_version": python,
              "files": file_hashes(context / "wheels")}
    (context / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True))
    (context / "Containerfile").write_text(
        f"FROM scratch\nCOPY wheels/ /wheels/\nCOPY {RECORD} /{RECORD}\n"
        f'LABEL org.opencontainers.image.description="ee-builder: wheels compiled by a build, for later builds"\n')
    try:
        return engine.build(context, "Containerfile", {}, {}, nocache=False, on_event=lambda event: None).image_id
    except BuildFailed as err:
        raise UserError(f"build cache: could not make the wheel image: {err}") from None
