"""The container engine, driven through the Docker SDK for Python (Docker, or Podman's
Docker-compatible socket). All engine I/O goes through ``Engine``."""
from __future__ import annotations

import collections
import io
import json
import os
import re
import resource
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import docker
import docker.errors
import docker.types
import requests

from .errors import BuildFailed, UserError
from .settings import Engine as EngineSettings

# How long a build step may print nothing before we give up on the engine: compiling a large C
# extension or a user's silent step can take many minutes.
SILENT_STEP_LIMIT = 3600
PODMAN_SOCKETS = ("unix:///run/podman/podman.sock",
                  f"unix:///run/user/{os.getuid()}/podman/podman.sock")
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_STEP_PODMAN = re.compile(r"^\[(\d+)/(\d+)\] STEP (\d+)/(\d+): (.*)$")
_FROM = re.compile(r"^FROM \S+ (?:AS|as) (\S+)")
# The image a step produced: " ---> 0123abcd4567" (Docker), "--> 0123abcd456" (Podman).
_LAYER = re.compile(r"^\s*-{2,3}> (?:Using cache )?([0-9a-f]{10,64})$")


@dataclass(frozen=True)
class BuildEvent:
    """One thing the engine reported: a new step, a cache hit, a step's resulting layer, or a
    line of step output. For "cached" and "layer", ``text`` is the image ID when the engine says it."""
    kind: str  # "step" | "cached" | "layer" | "output"
    text: str
    number: int = 0
    total: int = 0


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    stages: dict[str, str]  # stage name -> the image its last step produced


def _url(settings: EngineSettings) -> str | None:
    if settings.url:
        return settings.url
    if settings.type == "podman":
        for url in PODMAN_SOCKETS:
            if os.path.exists(url.removeprefix("unix://")):
                return url
        return PODMAN_SOCKETS[0]
    return None  # DOCKER_HOST or the default socket


class Engine:
    def __init__(self, settings: EngineSettings, timeout: int = 600):
        url = _url(settings)
        where = url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        hint = ("start it with `dockerd &` as root (Debian: apt-get install docker.io first)"
                if settings.type == "docker" else
                "start it with `podman system service --time=0 &`")
        try:
            self.client = docker.DockerClient(base_url=url, timeout=timeout) if url else docker.from_env(timeout=timeout)
            self.client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise UserError(f"container engine ({settings.type}) at {where} is not answering: "
                            f"{_reason(err)}. Expected a running engine: {hint}, or set engine.url.") from None
        self.kind = settings.type
        self.where = where

    def image(self, ref: str):
        """The image, or None when the engine does not have it."""
        try:
            return self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        except (docker.errors.APIError, docker.errors.NullResource) as err:
            raise UserError(f"image {ref!r}: the {self.kind} engine refuses the reference: {_reason(err)}. "
                            f"Expected a lowercase image reference or ID.") from None

    def pull(self, ref: str) -> str | None:
        """Pull ``ref``; return None on success, else the engine's reason."""
        try:
            self.client.images.pull(ref)
            return None
        except (docker.errors.APIError, requests.exceptions.RequestException) as err:
            return _reason(err)

    def import_rootfs(self, tarball: Path, ref: str, changes: list[str]) -> None:
        repository, tag = ref.rsplit(":", 1)
        try:
            response = self.client.api.import_image_from_file(str(tarball), repository=repository, tag=tag,
                                                              changes=changes)
            # Podman's compatible API ignores the tag (it uses "latest"): tag by the returned ID,
            # which Docker puts in "status" and Podman in "id" too.
            last = json.loads(response.strip().splitlines()[-1])
            self.client.images.get(last.get("id") or last["status"]).tag(repository, tag)
        except (docker.errors.APIError, ValueError, IndexError, KeyError) as err:
            raise UserError(f"engine refused to import {tarball} as {ref}: {_reason(err)}") from None

    def build(self, context: Path, dockerfile: str, buildargs: dict[str, str], labels: dict[str, str],
              nocache: bool, on_event: Callable[[BuildEvent], None]) -> BuildResult:
        """Build without tagging; tags are added by the caller on success only, so a failed build
        leaves every existing tag where it was. The result also names each stage's image, read from
        the build's own output (another build could pick other cached layers for the same steps)."""
        tail: collections.deque[str] = collections.deque(maxlen=40)
        step = None
        image_id = None
        stage, stages = None, {}
        stream = self.client.api.build(path=str(context), dockerfile=dockerfile, buildargs=buildargs,
                                       labels=labels or None, nocache=nocache, rm=True, forcerm=True,
                                       pull=False, decode=True, timeout=SILENT_STEP_LIMIT)
        try:
            for chunk in stream:
                if "error" in chunk:
                    message = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                    raise BuildFailed(f"build step failed: {step or '(before the first step)'}\n"
                                      f"  engine says: {message.strip()}", step=step, tail=list(tail))
                if "aux" in chunk and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
                for line in chunk.get("stream", "").splitlines():
                    event = _parse(line)
                    if event is None:
                        continue
                    if event.kind == "step":
                        step = f"[{event.number}/{event.total}] {event.text}"
                        tail.clear()
                        if found := _FROM.match(event.text):
                            stage = found.group(1)
                    elif event.kind in ("layer", "cached") and event.text and stage:
                        stages[stage] = event.text
                    elif event.kind == "output":
                        tail.append(event.text)
                        if image_id is None and (found := re.match(r"^Successfully built ([0-9a-f]+)$", event.text)):
                            image_id = found.group(1)
                    on_event(event)
        except requests.exceptions.RequestException as err:
            raise BuildFailed(f"lost the engine during the build at {step}: {_reason(err)}", step=step,
                              tail=list(tail)) from None
        if image_id is None:
            raise BuildFailed(f"the engine ended the build without an image (last step: {step})", step=step,
                              tail=list(tail))
        return BuildResult(image_id, stages)

    def tag(self, image_id: str, refs: list[str]) -> None:
        image = self.client.images.get(image_id)
        for ref in refs:
            repository, tag = ref.rsplit(":", 1)
            image.tag(repository, tag)

    def retag(self, ref: str, image_id: str | None) -> None:
        """Point the tag ``ref`` at ``image_id``, or remove the tag when ``image_id`` is None (an
        image with other tags keeps them; ``noprune`` keeps its untagged parent images)."""
        try:
            if image_id is not None:
                self.tag(image_id, [ref])
            else:
                self.client.images.remove(ref, noprune=True)
        except docker.errors.ImageNotFound:
            if image_id is not None:
                raise UserError(f"image {image_id} is gone") from None
        except (docker.errors.APIError, requests.exceptions.RequestException) as err:
            raise UserError(_reason(err)) from None

    def push(self, repository: str, tag: str, auth: dict[str, str] | None, progress) -> str:
        """Push ``repository:tag``; return the digest the registry gave. ``progress`` gets each event."""
        digest = None
        try:
            for event in self.client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=auth):
                if "error" in event:
                    raise UserError((event.get("errorDetail") or {}).get("message") or event["error"])
                digest = (event.get("aux") or {}).get("Digest", digest)
                progress(event)
        except (docker.errors.APIError, requests.exceptions.RequestException) as err:
            raise UserError(_reason(err)) from None
        if digest is None:
            raise UserError(f"the {self.kind} engine reported no digest for {repository}:{tag}")
        return digest

    def _ulimits(self) -> list[docker.types.Ulimit] | None:
        """Podman's defaults ask for more open files and processes than hard limits it cannot raise
        (nofile 20000 here; CAP_SYS_RESOURCE missing), and the container does not start. Our
        containers are short probes: our own nofile limit and 4096 processes are plenty."""
        if self.kind != "podman":
            return None
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        return [docker.types.Ulimit(name="nofile", soft=nofile, hard=nofile),
                docker.types.Ulimit(name="nproc", soft=4096, hard=4096)]

    def save(self, image: str) -> io.RawIOBase:
        """The image as the engine exports it (``docker save`` format), as a stream."""
        return io.BufferedReader(_Reader(self.client.images.get(image).save(chunk_size=1 << 20)), 1 << 20)

    def copy_out(self, image: str, path: str, dest: Path) -> bool:
        """Replace ``dest`` with the contents of directory ``path`` in ``image``; False if absent."""
        container = self.client.containers.create(image, command=["true"])
        try:
            try:
                stream, _ = container.get_archive(path)
            except docker.errors.NotFound:
                return False
            staging = Path(tempfile.mkdtemp(prefix=".copy-", dir=dest.parent))
            try:
                with tarfile.open(fileobj=_Reader(stream), mode="r|") as tar:
                    # "data" refuses absolute paths, links out of the tree and device files.
                    tar.extractall(staging, filter="data")
                shutil.rmtree(dest, ignore_errors=True)
                (staging / Path(path).name).rename(dest)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            return True
        finally:
            container.remove(force=True)

    def run(self, image: str, command: list[str], entrypoint: list[str] | None = None, user: str | None = None,
            network: str | None = None, hosts: dict[str, str] | None = None, mounts: dict[str, str] | None = None,
            environment: dict[str, str] | None = None, timeout: int = 300) -> tuple[int, str]:
        """Run a throw-away container; return (exit code, combined output).

        No network unless ``network`` names one (e.g. ``host``); ``hosts`` adds /etc/hosts entries;
        ``mounts`` maps host paths to read-only container paths."""
        container = self.client.containers.create(
            image, command=command, entrypoint=entrypoint, user=user, ulimits=self._ulimits(),
            network_disabled=network is None, network_mode=network, extra_hosts=hosts or None,
            volumes={src: {"bind": dest, "mode": "ro"} for src, dest in (mounts or {}).items()} or None,
            environment=environment)
        try:
            try:
                container.start()
            except docker.errors.APIError as err:  # e.g. the entrypoint does not exist in the image
                return 127, _reason(err)
            rc = container.wait(timeout=timeout)["StatusCode"]
            return rc, container.logs(stdout=True, stderr=True).decode(errors="replace")
        finally:
            container.remove(force=True)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _Reader(io.RawIOBase):
    """A file object over the chunk iterator docker-py returns for archives."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            self._buffer = next(self._chunks, b"")
            if not self._buffer:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size], self._buffer = self._buffer[:size], self._buffer[size:]
        return size


def _parse(line: str) -> BuildEvent | None:
    line = _ANSI.sub("", line).rstrip()
    if not line:
        return None
    if m := _STEP.match(line):
        return BuildEvent("step", m.group(3), int(m.group(1)), int(m.group(2)))
    if m := _STEP_PODMAN.match(line):
        return BuildEvent("step", m.group(5), int(m.group(3)), int(m.group(4)))
    if m := _LAYER.match(line):
        # Podman names the cached layer on the same line; Docker names it on the next one.
        return BuildEvent("cached" if "Using cache" in line else "layer", m.group(1))
    if line.strip() in ("---> Using cache", "--> Using cache"):
        return BuildEvent("cached", "")
    if line.startswith(" ---> ") or line.startswith("Removing intermediate container"):
        return None
    return BuildEvent("output", line)


def _reason(err: Exception) -> str:
    text = str(getattr(err, "explanation", None) or err)
    return text.strip().splitlines()[-1] if text.strip() else type(err).__name__
