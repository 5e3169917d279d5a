"""The cluster's daemons as plain processes (no systemd on our machines): started in their own
session with a log each, recorded by PID and command name, waited for until they answer, stopped."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable


def say(message: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


class ClusterError(Exception):
    pass


def wait(what: str, condition: Callable[[], bool], timeout: float, failure: str = "") -> None:
    deadline = time.monotonic() + timeout
    waited = time.monotonic()
    while time.monotonic() < deadline:
        try:
            if condition():
                took = time.monotonic() - waited
                if took > 2:
                    say(f"{what} ready after {took:.0f}s")
                return
        except (OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.5)
    raise ClusterError(f"{what}: not ready after {timeout:.0f}s. {failure}".strip())


class Supervisor:
    """Daemons by name: PID files in ``pids``, one log per daemon in ``logs``."""

    def __init__(self, pids: Path, logs: Path):
        self.pids, self.logs = pids, logs

    def start(self, name: str, argv: list[str], ready: Callable[[], bool], timeout: float = 60) -> None:
        """Start ``name`` unless it runs and answers (``ready``); wait until it answers."""
        if self.alive(name) and ready():
            return
        if self.alive(name):  # running but not answering: give it its timeout below
            say(f"{name} running (pid {self.pid(name)}), waiting for it to answer")
        else:
            say(f"starting {name}")
            log = (self.logs / f"{name}.log").open("a")
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            # The command's name too: after a reboot or a new session the PID may be another process's.
            (self.pids / f"{name}.pid").write_text(f"{process.pid} {Path(argv[0]).name}\n")
        wait(name, lambda: self.alive(name) and ready(), timeout, failure=f"see {self.logs / (name + '.log')}")

    def pid(self, name: str) -> int | None:
        path = self.pids / f"{name}.pid"
        return int(path.read_text().split()[0]) if path.exists() else None

    def alive(self, name: str) -> bool:
        """The recorded process runs, is not a zombie, and is still the command we started."""
        path = self.pids / f"{name}.pid"
        if not path.exists():
            return False
        pid, *command = path.read_text().split()
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            return False
        return not stat.split(") ")[-1].startswith("Z") and (not command or Path(cmdline).name == command[0])

    def stop(self, name: str) -> None:
        pid = self.pid(name)
        if pid is not None and self.alive(name):
            say(f"stopping {name} (pid {pid})")
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not self.alive(name):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        (self.pids / f"{name}.pid").unlink(missing_ok=True)
