"""The receptor binary on this host, for the commands that run receptor themselves (`receptor
config --check`; the verify suite).

Where it comes from, first found wins: ``receptor.binary`` in the settings (a path on this host);
``receptor`` on PATH; the image's own receptor when ``receptor.source`` is ``file`` (that file) or
``image`` (copied out of the built image once, cached by version). None of them: a message that
says where to get one. The test suite's receptor stand-in is never taken for receptor.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
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


def check_bundle(binary: Path, spec: rc.NodeSpec, bundle: Path, timeout: float = 15) -> None:
    """Start ``binary`` on the bundle's config as it will run on the node, for a moment: receptor
    reads every file then (certificates, keys, the node ID in the certificate, work keys) and
    exits on a problem. Only what would reach out is changed: paths point into ``bundle``, the
    listener binds to loopback on a free port, there are no peers, the socket and data dir are
    temporary."""
    with tempfile.TemporaryDirectory(prefix="ee-builder-receptor-check-") as scratch:
        here = dataclasses.replace(spec, install_dir=str(bundle.resolve()), peers=(),
                                   listen=_free_port() if spec.listen is not None else None, bind="127.0.0.1")
        entries = rc.compose(here)
        sock = Path(scratch) / "receptor.sock"
        for entry in entries:
            if "node" in entry:
                entry["node"]["datadir"] = str(Path(scratch) / "data")
            if "control-service" in entry:
                entry["control-service"]["filename"] = str(sock)
        config = Path(scratch) / "receptor.conf"
        config.write_text(rc.render(entries))
        log = Path(scratch) / "receptor.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([str(binary), "--config", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while not sock.exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # a certificate problem ends receptor right after it opened its socket
            if process.poll() is not None or not sock.exists():
                said = log.read_text(errors="replace").strip()[-1500:] or f"exit {process.returncode}"
                raise UserError(f"{bundle}/receptor.conf: {binary} did not run on this bundle: {said}. Expected "
                                f"a bundle made by `ee-builder receptor config` for this node and mesh; make it again.")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
