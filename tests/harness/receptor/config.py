"""The stand-in's config: receptor's v1 format, a YAML list of single-key maps (``- node: {…}``).

Only the entries a single local node needs are accepted; anything else (a peer, a listener, TLS,
signing, a field we do not know) stops the start-up with "<entry>: not supported by the stand-in",
so a test never passes against a config the stand-in silently ignored."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class CommandWorker:
    worktype: str
    command: str
    params: str = ""
    allowruntimeparams: bool = False


@dataclass(frozen=True)
class KubernetesWorker:
    """Parsed and validated as receptor does at start-up; units run by ``kube.KubeUnit``."""
    worktype: str
    authmethod: str = "incluster"
    namespace: str = ""
    kubeconfig: str = ""
    image: str = ""
    command: str = ""
    params: str = ""
    pod: str = ""
    streammethod: str = "logger"
    allowruntimeauth: bool = False
    allowruntimecommand: bool = False
    allowruntimeparams: bool = False
    allowruntimepod: bool = False
    deletepodonrestart: bool = True


@dataclass(frozen=True)
class Config:
    node_id: str
    datadir: Path
    socket: Path
    permissions: int = 0o600
    log_level: str = "error"
    workers: dict[str, CommandWorker | KubernetesWorker] = field(default_factory=dict)

    @property
    def unit_root(self) -> Path:
        """Where units live: ``<datadir>/<node id>``, as receptor lays them out."""
        return self.datadir / self.node_id


# Each accepted entry and the fields it may hold (receptor's names, all lowercase).
_FIELDS = {
    "node": {"id", "datadir"},
    "log-level": {"level"},
    "local-only": set(),
    "control-service": {"service", "filename", "permissions"},
    "work-command": {"worktype", "command", "params", "allowruntimeparams"},
    "work-kubernetes": {"worktype", "authmethod", "namespace", "kubeconfig", "image", "command", "params",
                        "pod", "streammethod", "allowruntimeauth", "allowruntimecommand",
                        "allowruntimeparams", "allowruntimepod", "deletepodonrestart"},
}


def load(path: Path) -> Config:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: {e}") from None
    if not isinstance(data, list):
        raise ConfigError(f"{path}: the config must be a YAML list of single-key maps (receptor's v1 format)")
    node: dict = {}
    control: dict | None = None
    log_level = "error"
    workers: dict[str, CommandWorker | KubernetesWorker] = {}
    for item in data:
        if not (isinstance(item, dict) and len(item) == 1):
            raise ConfigError(f"{path}: each entry must be a map with one key, not {item!r}")
        (entry, body), = item.items()
        if entry not in _FIELDS:
            raise ConfigError(f"{entry}: not supported by the stand-in")
        if entry == "log-level" and isinstance(body, str):
            body = {"level": body}
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise ConfigError(f"{entry}: expected a map of fields, not {body!r}")
        for key in body:
            if key not in _FIELDS[entry]:
                raise ConfigError(f"{entry}.{key}: not supported by the stand-in")
        if entry == "node":
            node = body
        elif entry == "log-level":
            log_level = _string(entry, body, "level")
        elif entry == "control-service":
            if control is not None:
                raise ConfigError("control-service: only one is supported by the stand-in")
            control = body
        elif entry in ("work-command", "work-kubernetes"):
            worker = _command(body) if entry == "work-command" else _kubernetes(body)
            if worker.worktype in workers:
                raise ConfigError(f"{entry}: work type {worker.worktype} already registered")
            workers[worker.worktype] = worker
    if control is None or not control.get("filename"):
        # receptor can also listen on TCP or only on the mesh; the tests always use a unix socket.
        raise ConfigError("control-service: a filename (unix socket) is required by the stand-in")
    if control.get("service", "control") != "control":
        raise ConfigError("control-service.service: only 'control' is supported by the stand-in")
    permissions = control.get("permissions", 0o600)
    if not isinstance(permissions, int):
        raise ConfigError(f"control-service.permissions: expected a file mode such as 0600, not {permissions!r}")
    node_id = str(node.get("id") or os.uname().nodename)
    if node_id == "localhost":
        raise ConfigError("node.id: 'localhost' is reserved by receptor")
    datadir = Path(node.get("datadir") or Path(tempfile.gettempdir()) / "receptor")
    return Config(node_id=node_id, datadir=datadir, socket=Path(control["filename"]), permissions=permissions,
                  log_level=log_level, workers=workers)


def _string(entry: str, body: dict, key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if value is None:
        raise ConfigError(f"{entry}.{key}: required")
    if not isinstance(value, str):
        raise ConfigError(f"{entry}.{key}: expected a string, not {value!r}")
    return value


def _bool(entry: str, body: dict, key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{entry}.{key}: expected true or false, not {value!r}")
    return value


def _command(body: dict) -> CommandWorker:
    e = "work-command"
    return CommandWorker(worktype=_string(e, body, "worktype"), command=_string(e, body, "command"),
                         params=_string(e, body, "params", ""),
                         allowruntimeparams=_bool(e, body, "allowruntimeparams", False))


def _kubernetes(body: dict) -> KubernetesWorker:
    e = "work-kubernetes"
    strings = {k: _string(e, body, k, "") for k in ("namespace", "kubeconfig", "image", "command", "params", "pod")}
    flags = {k: _bool(e, body, k, k == "deletepodonrestart")
             for k in ("allowruntimeauth", "allowruntimecommand", "allowruntimeparams", "allowruntimepod",
                       "deletepodonrestart")}
    worker = KubernetesWorker(worktype=_string(e, body, "worktype"),
                              authmethod=_string(e, body, "authmethod", "incluster"),
                              streammethod=_string(e, body, "streammethod", "logger"), **strings, **flags)
    # The same start-up checks receptor makes (KubeWorkerCfg.Prepare), with its messages.
    auth = worker.authmethod.lower()
    if auth not in ("kubeconfig", "incluster", "runtime"):
        raise ConfigError(f"{e}: invalid AuthMethod: {worker.authmethod}")
    if not worker.namespace and not (auth == "kubeconfig" or worker.allowruntimeauth):
        raise ConfigError(f"{e}: must provide namespace when AuthMethod is not kubeconfig")
    if worker.kubeconfig and auth != "kubeconfig":
        raise ConfigError(f"{e}: can only provide KubeConfig when AuthMethod=kubeconfig")
    if worker.kubeconfig and not Path(worker.kubeconfig).exists():
        raise ConfigError(f"{e}: error accessing kubeconfig file: {worker.kubeconfig}: no such file")
    if worker.pod and (worker.image or worker.command or worker.params):
        raise ConfigError(f"{e}: can only provide Pod when Image, Command, and Params are empty")
    if not (worker.pod or worker.image or worker.allowruntimecommand or worker.allowruntimepod):
        raise ConfigError(f"{e}: must specify a container image to run")
    if worker.streammethod.lower() not in ("logger", "tcp"):
        raise ConfigError(f"{e}: stream mode must be logger or tcp")
    return worker
