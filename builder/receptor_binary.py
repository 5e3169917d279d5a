"""The receptor binary on this host, for the commands that run receptor themselves (`receptor
config --check`; the verify suite).

Where it comes from, first found wins: ``receptor.binary`` in the settings (a path on this host);
``receptor`` on PATH; the image's own receptor when ``receptor.source`` is ``file`` (that file) or
``image`` (copied out of the built image once, cached by version). None of them: a message that
says where to get one. The test suite's receptor stand-in is never taken for receptor.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from . import receptor_config as rc
from .cache import cache_dir
from .engine import Engine
from .errors import UserError
from .features.receptor import BINARY
from .settings import Settings

STAND_IN_MARK = b"receptor STAND-IN"
WHERE_TO_GET_ONE = (
    "Expected one of: receptor.binary in ee-builder.yml (the path of a receptor binary on this host); "
    "`receptor` on PATH; or receptor.source: image|file with its pinned receptor.version and the image built "
    "(`ee-builder build`), whose /usr/bin/receptor ee-builder then uses. Receptor releases: "
    "https://github.com/ansible/receptor/releases or the image quay.io/ansible/receptor (its /usr/bin/receptor).")


def locate(settings: Settings | None, purpose: str, engine: Engine | None = None) -> Path:
    receptor = settings.receptor if settings else None
    if receptor and receptor.binary:
        return _usable(receptor.binary, f"{settings.path}: receptor.binary")
    found = shutil.which("receptor")
    if found:
        return _usable(Path(found), "receptor on PATH")
    if receptor and receptor.source == "file":
        return _usable(receptor.file, f"{settings.path}: receptor.file")
    if receptor and receptor.source == "image" and engine is not None:
        copied = _from_image(settings, engine)
        if copied is not None:
            return copied
    raise UserError(f"no receptor binary found: ee-builder needs one on this host to {purpose}. {WHERE_TO_GET_ONE}")


def version(binary: Path) -> str:
    """What ``receptor --version`` says, without a leading v."""
    try:
        result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except OSError as err:
        raise UserError(f"{binary}: cannot run it: {err.strerror}. Expected a receptor binary for this machine.")
    said = result.stdout.strip()
    if result.returncode != 0 or not said:
        raise UserError(f"{binary}: `receptor --version` failed (exit {result.returncode}): "
                        f"{(result.stderr or said).strip()[-300:]}. Expected a receptor binary.")
    return said.removeprefix("v")


def _usable(path: Path, where: str) -> Path:
    if not path.is_file() or not os.access(path, os.X_OK):
        raise UserError(f"{where}: {path} is not an executable file. Expected the path of a receptor binary.")
    with open(path, "rb") as head:
        if STAND_IN_MARK in head.read(4096):
            raise UserError(f"{where}: {path} is the test suite's receptor stand-in, which ee-builder never runs "
                            f"as receptor. {WHERE_TO_GET_ONE}")
    return path


def _from_image(settings: Settings, engine: Engine) -> Path | None:
    """The built image's receptor, copied out once per pinned version."""
    image = settings.image.refs[0]
    if engine.image(image) is None:
        return None
    dest = cache_dir() / "receptor" / settings.receptor.release / "receptor"
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not engine.copy_out(image, BINARY, dest):
            return None
    return _usable(dest, f"{image}:{BINARY}")


class Node:
    """A receptor process on a config of ``entries``, its control socket and data dir in
    ``scratch``; ``with Node(...) as node:`` waits for the socket and stops receptor at the end."""

    def __init__(self, binary: Path, entries: list[dict], scratch: Path, timeout: float = 15):
        self.binary, self.scratch, self.timeout = binary, scratch, timeout
        self.socket = scratch / "receptor.sock"
        self.log = scratch / "receptor.log"
        for entry in entries:
            if "node" in entry:
                entry["node"]["datadir"] = str(scratch / "data")
            if "control-service" in entry:
                entry["control-service"]["filename"] = str(self.socket)
        self.config = scratch / "receptor.conf"
        self.config.write_text(rc.render(entries))
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Node":
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen([str(self.binary), "--config", str(self.config)], stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while not self.socket.exists() and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a certificate problem ends receptor right after it opened its socket
        if self.process.poll() is not None or not self.socket.exists():
            said = self.log.read_text(errors="replace").strip()[-1500:] or f"exit {self.process.returncode}"
            self.__exit__()
            raise NodeError(said)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class NodeError(Exception):
    """receptor did not come up; the message is what it said."""


@contextlib.contextmanager
def control_socket(settings: Settings, given: str | None, purpose: str, entries: list[dict],
                   progress) -> Iterator[Path]:
    """``given``, or the control socket of a node on ``entries`` started here for the duration,
    from the receptor ``locate`` finds."""
    if given:
        yield Path(given)
        return
    binary = locate(settings, purpose, Engine(settings.engine))
    with tempfile.TemporaryDirectory(prefix="ee-builder-receptor-node-") as scratch:
        try:
            with Node(binary, entries, Path(scratch)) as node:
                progress.say(f"receptor {version(binary)} ({binary}) on {node.socket}")
                yield node.socket
        except NodeError as err:  # only __enter__ raises it: receptor did not come up
            raise UserError(f"{binary} did not start: {err}") from None


def check_bundle(binary: Path, spec: rc.NodeSpec, bundle: Path) -> None:
    """Start ``binary`` on the bundle's config as it will run on the node, for a moment: receptor
    reads every file then (certificates, keys, the node ID in the certificate, work keys) and
    exits on a problem. Only what would reach out is changed: paths point into ``bundle``, the
    listener binds to loopback on a free port, there are no peers, the socket and data dir are
    temporary."""
    here = dataclasses.replace(spec, install_dir=str(bundle.resolve()), peers=(),
                               listen=_free_port() if spec.listen is not None else None, bind="127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="ee-builder-receptor-check-") as scratch:
        try:
            with Node(binary, rc.compose(here), Path(scratch)):
                pass
        except NodeError as err:
            raise UserError(f"{bundle}/receptor.conf: {binary} did not run on this bundle: {err}. Expected a bundle "
                            f"made by `ee-builder receptor config` for this node and mesh; make it again.") from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
