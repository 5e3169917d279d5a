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
gate, and the wheel image is scanned by the gate's secret scan before it is pushed.
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
    """What ``restore`` got: wheels put into the kept-wheels directory, and images for cache_from."""
    wheels: int = 0
    wheels_tag: str | None = None
    images: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def restore(engine: Engine, repository: str, key: WheelKey, base: Image, kept: Path,
            progress: Progress) -> Restored:
    """Pull the cache of ``repository`` for ``key``: its wheels into ``kept`` (pip's wheel cache
    layout, merged with what is kept there), and for Docker the stage images built on ``base``,
    for cache_from. The wheel pull comes first: when it cannot reach the registry, nothing more
    is tried (one warning); the stage images are pulled side by side (their layers decompress on
    every core)."""
    restored = Restored()
    auth = registry_auth()

    def pull(ref: str) -> str | None:
        """None when pulled or absent; else the warning."""
        progress.say(f"build cache: pulling {ref}")
        reason = engine.pull(ref, auth)
        if reason is None or _MISSING.search(reason):
            return None
        cause, advice = classify(reason)
        return f"cannot pull {ref} ({cause}: {reason}); {advice}"

    for exact in (True, False):
        ref = f"{repository}:{key.tag(exact)}"
        if (unreachable := pull(ref)) is not None:
            restored.warnings.append(unreachable)
            break
        if engine.image(ref) is not None:
            if why := _take_wheels(engine, ref, key, exact, kept, restored):
                restored.warnings.append(f"{ref} not used: {why}")
            else:
                break
    else:
        if not restored.warnings:
            restored.warnings.append(f"no wheels for this base, Python and requirements in {repository} yet "
                                     f"(they are pushed by a build with --cache-to-registry)")
    if engine.kind == "docker" and not any(w.startswith("cannot pull") for w in restored.warnings):
        refs = [f"{repository}:stage-{stage}" for stage in (*STAGES, "final")]
        with ThreadPoolExecutor(len(refs)) as pool:
            failures = [w for w in pool.map(pull, refs) if w is not None]
        restored.warnings += failures[:1]
        pulled = [ref for ref in refs if engine.image(ref) is not None]
        # An image built on another base (an upgraded one) has no layer for this build to reuse.
        restored.images = [ref for ref in pulled if engine.image(ref).layers[:len(base.layers)] == base.layers]
        if pulled and not restored.images:
            progress.say("build cache: the stage images were built on another base; not used")
    for warning in restored.warnings:
        progress.say(f"warning: build cache: {warning}; going on without it")
    parts = ([f"{restored.wheels} wheel(s) from {restored.wheels_tag}"] if restored.wheels else []) + \
            ([f"{len(restored.images)} stage image(s) for the layer cache"] if restored.images else [])
    if parts:
        progress.say(f"build cache {repository}: " + ", ".join(parts))
    return restored


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
    pushes: list[tuple[str, str]] = []
    if any(kept.rglob("*.whl")):
        with tempfile.TemporaryDirectory(prefix="ee-builder-wheels-") as tmp:
            artifact = _wheel_image(engine, Path(tmp), key, kept, python)
        leaks = gate.scan(engine, artifact)
        if leaks:
            warnings.append("the gate found secret material in the wheels, so they are not pushed: "
                            + "; ".join(leak.describe() for leak in leaks))
        else:
            pushes += [(artifact, key.tag(True)), (artifact, key.tag(False))]
    if engine.kind == "docker" and image_id:
        pushes += [(stages[name], f"stage-{name}") for name in STAGES if name in stages]
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
