"""One receptor node for a test: the stand-in (the ``receptor`` wrapper next to this file), or a
real receptor binary named by ``EE_RECEPTOR``, started on a config and stopped afterwards."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import work

STAND_IN = Path(__file__).resolve().parent / "receptor"


def binary() -> str:
    """A real receptor when ``EE_RECEPTOR`` names one, else the stand-in."""
    return os.environ.get("EE_RECEPTOR") or str(STAND_IN)


def is_stand_in() -> bool:
    return not os.environ.get("EE_RECEPTOR")


@dataclass
class Node:
    node_id: str
    socket: Path
    datadir: Path
    config: Path
    log: Path
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            work.stop(self.process, signal.SIGTERM)


def write_config(directory: Path, node_id: str, workers: list[dict]) -> Path:
    """A v1 config: the node, a control socket (mode 0600) in ``directory``, and ``workers``
    (single-key maps such as ``{"work-command": {…}}``)."""
    entries = [{"node": {"id": node_id, "datadir": str(directory / "data")}}, {"log-level": "info"},
               {"local-only": None},
               {"control-service": {"service": "control", "filename": str(directory / "receptor.sock"),
                                    "permissions": 0o600}},
               *workers]
    path = directory / "receptor.yml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    return path


def start(directory: Path, node_id: str, workers: list[dict], env: dict[str, str] | None = None,
          timeout: float = 15) -> Node:
    """Start a node and wait for its control socket; raises with the node's log when it exits first."""
    config = write_config(directory, node_id, workers)
    socket = directory / "receptor.sock"
    log = directory / "receptor.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([binary(), "--config", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, start_new_session=True)
    node = Node(node_id, socket, directory / "data", config, log, process)
    deadline = time.monotonic() + timeout
    while not socket.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            node.stop()
            raise RuntimeError(f"receptor did not open {socket} (exit {process.returncode}):\n{log.read_text()}")
        time.sleep(0.05)
    return node
