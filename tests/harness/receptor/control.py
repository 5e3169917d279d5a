"""The control service of the receptor STAND-IN, on a unix socket (receptor's pkg/controlsvc).

Reproduced: the greeting ``Receptor Control, node <id>``; one command per line, plain text
(``status``, ``work list|status|results|cancel|release|force-release …``, ``work submit <node>
<type> [params]``) or a JSON object with ``command``; each answer one line of compact JSON with
sorted keys (as Go's json.Marshal writes a map) or ``ERROR: <text>``, the connection staying
open; ``ERROR: Unknown command``; submit's "Work unit created …" then the payload until the
client shuts down its write side; results' "Streaming results …" then the stdout, then close.
Not reproduced: ``ping``, ``traceroute``, ``connect``, ``reload`` and TCP/TLS listeners
(answered as unknown commands / refused by the config)."""
from __future__ import annotations

import datetime
import json
import os
import socketserver

from tests.harness.receptor import VERSION
from tests.harness.receptor.config import Config
from tests.harness.receptor.work import Workceptor, WorkError


def _line(obj: dict) -> bytes:
    return (json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n").encode()


class Session(socketserver.StreamRequestHandler):
    server: "ControlServer"

    def handle(self) -> None:
        self.wfile.write(f"Receptor Control, node {self.server.config.node_id}\n".encode())
        while True:
            raw = self.rfile.readline()
            if not raw:
                return  # the client closed (or shut down its write side)
            text = raw.decode(errors="replace").rstrip("\r\n").replace("\r", "")
            if not text:
                continue
            try:
                reply = self.dispatch(text)
            except WorkError as e:
                self.wfile.write(f"ERROR: {e}\n".encode())
                continue
            if reply is _CLOSE:
                return
            self.wfile.write(_line(reply))

    def dispatch(self, text: str):
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise WorkError(str(e)) from None
            if not isinstance(data, dict) or "command" not in data:
                raise WorkError("JSON did not contain a command")
            if not isinstance(data["command"], str):
                raise WorkError("command must be a string")
            command, rest = data["command"], None
        else:
            command, _, rest = text.partition(" ")
            command, data = command.lower(), None
        if command == "status":
            if data is None and rest:
                raise WorkError("status command does not take parameters")
            return self.status(None if data is None else data.get("requested_fields"))
        if command == "work":
            return self.work(data if data is not None else _work_from_text(rest))
        raise WorkError("Unknown command")

    def status(self, requested) -> dict:
        config = self.server.config
        commands = [{"WorkType": name, "Secure": False} for name in sorted(config.workers)]
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        fields = {
            "NodeID": config.node_id, "Version": VERSION,
            "SystemCPUCount": os.cpu_count(),
            "SystemMemoryMiB": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024),
            "Connections": None, "RoutingTable": {}, "KnownConnectionCosts": {config.node_id: {}},
            # The control service's own advertisement carries the node's work types, as receptor's does.
            "Advertisements": [{"NodeID": config.node_id, "Service": "control", "Time": now, "ConnType": 1,
                                "Tags": {"type": "Control Service"}, "WorkCommands": commands}],
        }
        if requested is None:
            return fields
        if not isinstance(requested, list) or not all(isinstance(f, str) for f in requested):
            raise WorkError("each element of requested_fields must be a string")
        return {f: fields[f] for f in requested if f in fields}

    def work(self, params: dict):
        work = self.server.work
        sub = str(params.get("subcommand", "")).lower()
        if "subcommand" not in params:
            raise WorkError("field subcommand missing")
        if sub == "submit":
            for key, value in params.items():
                if not isinstance(value, str):
                    raise WorkError(f"submit parameters must all be strings and {key} is not")
            for key in ("node", "worktype"):
                if key not in params:
                    raise WorkError(f"field {key} missing")
            return self.submit(params)
        if sub == "list":
            return work.list(params.get("unitid") or None)
        if sub in ("status", "cancel", "release", "force-release", "results"):
            unit_id = params.get("unitid")
            if not isinstance(unit_id, str):
                raise WorkError("field unitid missing")
            if sub == "status":
                return work.status(unit_id)
            if sub == "cancel":
                return work.cancel(unit_id)
            if sub == "results":
                return self.results(unit_id, params.get("startpos", 0))
            return work.release(unit_id, force=sub == "force-release")
        raise WorkError("bad command")

    def submit(self, params: dict):
        unit = self.server.work.allocate(params)
        self.wfile.write(f"Work unit created with ID {unit.id}. Send stdin data and EOF.\n".encode())
        # The payload runs until the client shuts down its write side (receptor reads to EOF).
        with open(unit.dir / "stdin", "wb") as stdin:
            while chunk := self.rfile.read1(65536):
                stdin.write(chunk)
        unit.update(0, "Starting Worker")
        unit.start()
        return {"result": "Job Started", "unitid": unit.id}

    def results(self, unit_id: str, startpos) -> object:
        try:
            startpos = int(startpos)
        except (TypeError, ValueError):
            raise WorkError(f"field startpos value {startpos} is not convertible to an int") from None
        chunks = self.server.work.results(unit_id, startpos)  # raises for an unknown unit, before the header
        self.wfile.write(f"Streaming results for work unit {unit_id}\n".encode())
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _CLOSE  # receptor closes the connection once the results are sent


_CLOSE = object()


def _work_from_text(rest: str | None) -> dict:
    """``work <subcommand> …`` as receptor's InitFromString splits it (on single spaces)."""
    tokens = (rest or "").split(" ")
    sub = tokens[0].lower()
    params: dict = {"subcommand": sub}
    if sub == "submit":
        if len(tokens) < 3:
            raise WorkError("work submit requires a target node and work type")
        params.update(node=tokens[1], worktype=tokens[2])
        if len(tokens) > 3:
            params["params"] = " ".join(tokens[3:])
    elif sub == "list":
        if len(tokens) > 1:
            params["unitid"] = tokens[1]
    elif sub in ("status", "cancel", "release", "force-release"):
        if len(tokens) < 2:
            raise WorkError(f"work {sub} requires a unit ID")
        if len(tokens) > 2:
            raise WorkError(f"work {sub} does not take parameters after the unit ID")
        params["unitid"] = tokens[1]
    elif sub == "results":
        if len(tokens) < 2:
            raise WorkError("work results requires a unit ID")
        if len(tokens) > 3:
            raise WorkError("work results only takes a unit ID and optional start position")
        params["unitid"] = tokens[1]
        if len(tokens) > 2:
            try:
                params["startpos"] = int(tokens[2])
            except ValueError:
                raise WorkError(f'error converting start position to integer: strconv.ParseInt: parsing '
                                f'"{tokens[2]}": invalid syntax') from None
    return params


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True  # a results stream still following a unit must not keep the node alive

    def __init__(self, config: Config, work: Workceptor):
        self.config, self.work = config, work
        config.socket.parent.mkdir(parents=True, exist_ok=True)
        config.socket.unlink(missing_ok=True)  # a stale socket from an earlier run, as receptor does
        super().__init__(str(config.socket), Session)
        os.chmod(config.socket, config.permissions)

