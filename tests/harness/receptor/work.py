"""Work units of the receptor STAND-IN: receptor's workceptor for ``work-command`` on one node.

Reproduced from receptor's ``pkg/workceptor`` (command.go, workceptor.go, controlsvc.go): unit IDs
of 8 random letters; ``<datadir>/<node>/<unit>/{status,stdin,stdout}``; the status file's fields
(State, Detail, StdoutSize, WorkType, ExtraData {Pid, Params}); the states 0 Pending, 1 Running,
2 Succeeded, 3 Failed, 4 Canceled and the Detail texts of each step; ``params`` refused unless
``allowruntimeparams`` ("extra params provided but not allowed"), other submit params ignored as
receptor's command worker ignores them; the command run with the stdin file and stdout+stderr
into the stdout file; cancel = SIGINT (SIGKILL after 10 s) then Canceled; release = cancel and
remove the directory. Errors are raised as ``WorkError`` with receptor's message text. ``work-kubernetes``
units are ``kube.KubeUnit``, with the same surface.

Restart (workceptor.go's scanForUnits): a node starting on a data dir loads the units it finds there
from their status files (which keep the secrets ``work status`` blanks, mode 0600, as receptor's
do). Complete units are served as they are; a Pending ``work-command`` unit fails with "Pending at
restart"; ``work-kubernetes`` units resume as ``KubeUnit.restart`` says. The stand-in, unlike
receptor's command runner, stops its commands with the node, so a Running ``work-command`` unit
fails at restart with "Failed to restart: …" (our wording)."""
from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import signal
import string
import subprocess
import threading
import time
from pathlib import Path

from tests.harness.receptor.config import CommandWorker, Config, KubernetesWorker

PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED = range(5)
STATE_NAMES = {PENDING: "Pending", RUNNING: "Running", SUCCEEDED: "Succeeded", FAILED: "Failed",
               CANCELED: "Canceled"}


class WorkError(Exception):
    """A refusal, answered on the control socket as ``ERROR: <message>``."""


def process_state(returncode: int) -> str:
    """What Go's ``ProcessState.String()`` says, which receptor stores as the final Detail."""
    if returncode >= 0:
        return f"exit status {returncode}"
    name = signal.strsignal(-returncode) or f"signal {-returncode}"
    return f"signal: {name[0].lower()}{name[1:]}"


class BaseUnit:
    """What every unit has: its directory, state and Detail, and the status file. ``status()``'s
    ExtraData is the work type's own."""

    def __init__(self, unit_id: str, directory: Path, worker: CommandWorker | KubernetesWorker):
        self.id, self.dir, self.worker = unit_id, directory, worker
        self.state, self.detail = PENDING, ""
        self.canceled = False
        self.stopping = False  # the node is stopping: the status file keeps what it says now
        self.lock = threading.Lock()

    def extra_data(self) -> dict:
        raise NotImplementedError

    def stored_extra_data(self) -> dict:
        """ExtraData as the status file keeps it (receptor's unredacted status: secrets included)."""
        return self.extra_data()

    def stdout_size(self) -> int:
        try:
            return (self.dir / "stdout").stat().st_size
        except FileNotFoundError:
            return 0

    def status(self) -> dict:
        return {"State": self.state, "Detail": self.detail, "StdoutSize": self.stdout_size(),
                "WorkType": self.worker.worktype, "ExtraData": self.extra_data()}

    def update(self, state: int, detail: str) -> None:
        """Set the state and rewrite the status file (replaced whole, so a reader never sees half);
        once canceled, only Canceled is written."""
        with self.lock:
            if self.stopping or (self.canceled and state != CANCELED):
                return
            self.state, self.detail = state, detail
            if not self.dir.exists():  # released meanwhile
                return
            tmp = self.dir / "status.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps({**self.status(), "ExtraData": self.stored_extra_data()}))
            tmp.replace(self.dir / "status")

    def complete(self) -> bool:
        return self.state in (SUCCEEDED, FAILED, CANCELED)

    def release_resources(self) -> None:
        """Whatever the unit keeps outside its directory, removed at release."""

    def load(self, stored: dict) -> None:
        """State and Detail from a status file, at restart."""
        self.state, self.detail = int(stored.get("State", FAILED)), str(stored.get("Detail", ""))

    def restart(self) -> None:
        """What a node starting on this unit's directory does with it (receptor's Restart)."""


class Unit(BaseUnit):
    def __init__(self, unit_id: str, directory: Path, worker: CommandWorker, params: str):
        super().__init__(unit_id, directory, worker)
        self.params = params  # the configured params plus the runtime ones, as receptor combines them
        self.pid = 0
        self.process: subprocess.Popen | None = None
        self.monitor: threading.Thread | None = None

    def extra_data(self) -> dict:
        return {"Pid": self.pid, "Params": self.params}

    def start(self) -> None:
        self.update(PENDING, "Launching command runner")
        argv = [self.worker.command, *shlex.split(self.params)]
        with open(self.dir / "stdin", "rb") as stdin, open(self.dir / "stdout", "wb") as stdout:
            try:
                # Own session: a cancel's SIGINT reaches the command, never the stand-in itself.
                self.process = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.STDOUT,
                                                start_new_session=True)
            except FileNotFoundError:
                self.update(FAILED, f'exec: "{self.worker.command}": executable file not found in $PATH')
                return
            except OSError as e:
                self.update(FAILED, f"Error: {e}")
                return
        self.pid = self.process.pid
        self.update(RUNNING, f"Running: PID {self.pid}")
        self.monitor = threading.Thread(target=self._watch, daemon=True)
        self.monitor.start()

    def _watch(self) -> None:
        # receptor's command runner rewrites the status every 250 ms (StdoutSize grows) and at exit.
        while True:
            try:
                code = self.process.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                if not self.canceled:
                    self.update(RUNNING, f"Running: PID {self.pid}")
        if not self.canceled:
            self.update(SUCCEEDED if code == 0 else FAILED, process_state(code))

    def cancel(self) -> None:
        """SIGINT, SIGKILL after 10 s as receptor's runner does, then Canceled (a finished or
        not yet started unit keeps its state, as in receptor)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.canceled = True
        stop(self.process, signal.SIGINT)
        self.monitor.join()
        self.update(CANCELED, "Canceled")

    def shutdown(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)

    def load(self, stored: dict) -> None:
        super().load(stored)
        extra = stored.get("ExtraData") or {}
        self.pid, self.params = int(extra.get("Pid") or 0), str(extra.get("Params") or "")

    def restart(self) -> None:
        if self.state == PENDING:
            self.update(FAILED, "Pending at restart")
        elif self.state == RUNNING:  # its process went with the stand-in that ran it
            self.update(FAILED, "Failed to restart: the stand-in stops its commands when the node stops")


class UnknownUnit(BaseUnit):
    """A unit whose work type the config no longer has: kept, as receptor's unknown worker keeps it."""

    def __init__(self, unit_id: str, directory: Path, worktype: str):
        super().__init__(unit_id, directory, CommandWorker(worktype=worktype, command=""))
        self.extra: dict = {}

    def extra_data(self) -> dict:
        return self.extra

    def load(self, stored: dict) -> None:
        super().load(stored)
        self.extra = stored.get("ExtraData") or {}

    def cancel(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


class Workceptor:
    def __init__(self, config: Config):
        self.config = config
        self.units: dict[str, Unit] = {}
        self.lock = threading.Lock()
        config.unit_root.mkdir(parents=True, exist_ok=True)
        self._load_units()

    def _load_units(self) -> None:
        """receptor's scanForUnits at start-up: every unit directory with a status file."""
        for directory in sorted(self.config.unit_root.iterdir()):
            try:
                stored = json.loads((directory / "status").read_text())
            except (OSError, ValueError):
                continue  # no status file: receptor skips it too
            worker = self.config.workers.get(stored.get("WorkType", ""))
            if isinstance(worker, KubernetesWorker):
                from tests.harness.receptor.kube import KubeUnit
                unit = KubeUnit.restored(directory.name, directory, worker, stored)
            elif worker is not None:
                unit = Unit(directory.name, directory, worker, "")
            else:
                unit = UnknownUnit(directory.name, directory, str(stored.get("WorkType", "")))
            unit.load(stored)
            self.units[unit.id] = unit
            unit.restart()

    def allocate(self, params: dict[str, str]) -> Unit:
        """A new unit for a submit's params (already checked to be strings), before its payload."""
        node, worktype = params["node"], params["worktype"]
        if node != self.config.node_id and node.lower() != "localhost":
            raise WorkError(f"remote work (to node {node}) is not supported by the ee-builder receptor stand-in")
        if params.get("ttl"):
            raise WorkError("ttl option is intended for remote work only")
        if params.get("signature"):
            raise WorkError("work type did not expect a signature")
        worker = self.config.workers.get(worktype)
        if worker is None:
            raise WorkError(f"unknown work type {worktype}")
        if not isinstance(worker, KubernetesWorker):
            runtime = params.get("params", "")
            if runtime and not worker.allowruntimeparams:
                raise WorkError("extra params provided but not allowed")
            combined = " ".join(p for p in (worker.params, runtime) if p)
        with self.lock:
            while True:
                unit_id = "".join(random.choices(string.ascii_letters + string.digits, k=8))
                directory = self.config.unit_root / unit_id
                if unit_id not in self.units and not directory.exists():
                    break
            if isinstance(worker, KubernetesWorker):
                from tests.harness.receptor.kube import KubeUnit
                unit = KubeUnit(unit_id, directory, worker, params)  # raises receptor's params refusals
            else:
                unit = Unit(unit_id, directory, worker, combined)
            directory.mkdir(mode=0o700, parents=True)
            self.units[unit_id] = unit
        unit.update(PENDING, "Waiting for Input Data")
        (directory / "stdin").touch(mode=0o600)
        return unit

    def find(self, unit_id: str) -> Unit:
        with self.lock:
            unit = self.units.get(unit_id)
        if unit is None:
            raise WorkError(f"unknown work unit {unit_id}")
        return unit

    def status(self, unit_id: str) -> dict:
        unit = self.find(unit_id)
        return {**unit.status(), "StateName": STATE_NAMES[unit.state]}

    def list(self, unit_id: str | None = None) -> dict:
        with self.lock:
            ids = [unit_id] if unit_id else list(self.units)
        return {i: self.status(i) for i in ids}

    def cancel(self, unit_id: str) -> dict:
        self.find(unit_id).cancel()
        return {"cancelled": unit_id}

    def release(self, unit_id: str, force: bool = False) -> dict:
        unit = self.find(unit_id)
        unit.cancel()
        with unit.lock:
            shutil.rmtree(unit.dir, ignore_errors=force)
        unit.release_resources()
        with self.lock:
            self.units.pop(unit_id, None)
        return {"released": unit_id}

    def results(self, unit_id: str, startpos: int):
        """The unit's stdout from ``startpos`` in chunks, following it until the unit is complete
        and all of it was read (receptor's GetResults, polling every 250 ms)."""
        unit = self.find(unit_id)
        path = unit.dir / "stdout"
        while not path.exists():
            if unit.complete() or not unit.dir.exists():
                return
            time.sleep(0.25)
        with open(path, "rb") as stdout:
            stdout.seek(startpos)
            while True:
                chunk = stdout.read(65536)
                if chunk:
                    yield chunk
                    continue
                # Read the state before the size: a unit complete now has written all its output.
                done = unit.complete()
                if (done and stdout.tell() >= unit.stdout_size()) or not unit.dir.exists():
                    return
                time.sleep(0.25)

    def shutdown(self) -> None:
        """Stop running commands when the node stops (receptor leaves them to its runners; the
        stand-in owns them, and a test must not leave processes behind)."""
        with self.lock:
            units = list(self.units.values())
        for unit in units:
            unit.shutdown()


def stop(process: subprocess.Popen, first: signal.Signals, grace: float = 10) -> None:
    """``first``, then SIGKILL when the process has not ended within ``grace`` seconds."""
    process.send_signal(first)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
