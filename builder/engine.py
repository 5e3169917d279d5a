"""The container engine, driven through the Docker SDK for Python (Docker, or Podman's
Docker-compatible socket). All engine I/O goes through ``Engine``."""
from __future__ import annotations

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

from .build_stream import BuildEvent, BuildResult, BuildStream
from .errors import UserError
from .settings import EngineSettings

# How long a build step may print nothing before we give up on the engine: compiling a large C
# extension or a user's silent step can take many minutes.
SILENT_STEP_LIMIT = 3600
_PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
PODMAN_SOCKETS = ("unix:///run/podman/podman.sock",
                  f"unix:///run/user/{os.getuid()}/podman/podman.sock")


@dataclass(frozen=True)
class Image:
    """What the engine says about an image (its inspect), without the SDK object behind it."""
    id: str
    tags: tuple[str, ...]
    size: int
    created: str
    user: str            # "" when unset (root)
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    labels: dict[str, str]
    env: tuple[str, ...]
    layers: tuple[str, ...] = ()   # the diff IDs of its layers: what it holds, whatever its config
    platform: str = ""

    @classmethod
    def from_inspect(cls, attrs: dict) -> Image:
        config = attrs.get("Config") or {}
        return cls(id=attrs["Id"], tags=tuple(attrs.get("RepoTags") or ()), size=attrs.get("Size", 0),
                   created=attrs.get("Created", ""), user=config.get("User") or "",
                   entrypoint=tuple(config.get("Entrypoint") or ()), cmd=tuple(config.get("Cmd") or ()),
                   labels=dict(config.get("Labels") or {}), env=tuple(config.get("Env") or ()),
                   layers=tuple((attrs.get("RootFS") or {}).get("Layers") or ()),
                   platform=f"{attrs.get('Os', '')}/{attrs.get('Architecture', '')}")


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

    def image(self, ref: str) -> Image | None:
        """The image, or None when the engine does not have it."""
        try:
            return Image.from_inspect(self.client.api.inspect_image(ref))
        except docker.errors.ImageNotFound:
            return None
        except (docker.errors.APIError, docker.errors.NullResource) as err:
            raise UserError(f"image {ref!r}: the {self.kind} engine refuses the reference: {_reason(err)}. "
                            f"Expected a lowercase image reference or ID.") from None

    def pull(self, ref: str, auth: dict[str, str] | None = None) -> str | None:
        """Pull ``ref``; return None on success, else the engine's reason."""
        try:
            self.client.images.pull(ref, auth_config=auth)
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

    def require(self, ref: str) -> Image:
        """The image, or a UserError saying it is not there and how to get it."""
        found = self.image(ref)
        if found is None:
            raise UserError(f"image {ref}: not found in the {self.kind} engine at {self.where}. Expected a local "
                            f"image name or ID (build it with `ee-builder build`, or pull it).")
        return found

    def history(self, ref: str) -> list[str]:
        """The command behind each history entry of the image, oldest last (as the engine lists them)."""
        return [entry.get("CreatedBy", "") for entry in self.client.api.history(ref)]

    def remove(self, ref: str, force: bool = False, prune: bool = True) -> None:
        """Remove the image or tag ``ref``; nothing when it is not there. ``prune``: also its
        untagged parent images."""
        try:
            self.client.images.remove(ref, force=force, noprune=not prune)
        except docker.errors.ImageNotFound:
            pass

    def build(self, context: Path, dockerfile: str, buildargs: dict[str, str], labels: dict[str, str],
              nocache: bool, on_event: Callable[[BuildEvent], None],
              cache_from: list[str] | None = None, target: str | None = None) -> BuildResult:
        """Build without tagging; tags are added by the caller on success only, so a failed build
        leaves every existing tag where it was. ``cache_from``: local images (pulled from a
        registry) whose layers Docker's classic builder may reuse, as well as its own. ``target``:
        build up to this stage only."""
        stream = BuildStream(on_event)
        chunks = self.client.api.build(path=str(context), dockerfile=dockerfile, buildargs=buildargs,
                                       labels=labels or None, nocache=nocache, rm=True, forcerm=True,
                                       pull=False, decode=True, timeout=SILENT_STEP_LIMIT,
                                       cache_from=cache_from or None, target=target)
        try:
            for chunk in chunks:
                stream.feed(chunk)
        except requests.exceptions.RequestException as err:
            raise stream.failed(f"lost the engine during the build at {stream.step}: {_reason(err)}") from None
        return stream.result()

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
                self.remove(ref, prune=False)
        except docker.errors.ImageNotFound:
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
                # Docker names the digest in "aux"; Podman only in its last status line.
                found = _PUSHED_DIGEST.search(event.get("status", ""))
                digest = (event.get("aux") or {}).get("Digest") or (found.group(1) if found else digest)
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


def _reason(err: Exception) -> str:
    text = str(getattr(err, "explanation", None) or err)
    return text.strip().splitlines()[-1] if text.strip() else type(err).__name__
