"""receptor.conf for the nodes of an AWX mesh, in receptor's v1 format (a YAML list of single-key
maps), shaped like the install bundle AWX hands to an execution node. Pure: a ``NodeSpec`` in,
entries out; the files the entries point at are written by ``receptor_mesh``.

The image's built-in control-plane config (``features/receptor.py``) comes from here too, so the
control role has one definition."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

import yaml

from .errors import UserError

Role = Literal["control", "execution", "hop"]
ROLES: tuple[Role, ...] = ("control", "execution", "hop")
DEFAULT_PORT = 27199          # AWX's receptor listener port
INSTALL_DIR = "/etc/receptor"
CONTROL_SOCKET = "/var/run/receptor/receptor.sock"
# 0660: AWX's task container talks to the socket as a member of the receptor group, not as root.
SOCKET_PERMISSIONS = 0o660
TOKEN_EXPIRATION = "1m"       # AWX's: a signed submit is used at once, a leaked token soon useless
TLS_SERVER = "tls_server"
TLS_CLIENT = "tls_client"

# The bundle's files, relative to the install dir (and to the bundle folder that is copied there).
CA_CERT = "tls/ca.crt"
NODE_CERT = "tls/receptor.crt"
NODE_KEY = "tls/receptor.key"
SIGNING_KEY = "work-private-key.pem"
VERIFYING_KEY = "work-public-key.pem"


class FileMode(int):
    """An int that YAML writes in octal (``0660``), as receptor's docs and AWX write modes."""


@dataclass(frozen=True)
class NodeSpec:
    """One node of the mesh. ``bundle`` False is the image's built-in config: nothing but
    receptor.conf exists on disk there, so no TLS, no work keys and no local runner."""
    node_id: str
    role: Role
    listen: int | None = None
    bind: str | None = None            # the listener's address; receptor's default: every interface
    peers: tuple[str, ...] = ()
    allow_peers: tuple[str, ...] = ()
    accept_work_from: tuple[str, ...] = ()
    install_dir: str = INSTALL_DIR
    bundle: bool = True

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if not self.bundle and self.role != "control":
            # An execution node that verifies signatures cannot run without its public key file.
            raise ValueError("only the control role has a config without a bundle")

    def path(self, relative: str) -> str:
        return str(PurePosixPath(self.install_dir) / relative)


# awx-ee's container-group work types: AWX picks one by whether the container group has a credential.
KUBERNETES_WORK = [
    {"work-kubernetes": {"worktype": "kubernetes-runtime-auth", "authmethod": "runtime", "allowruntimeauth": True,
                         "allowruntimepod": True, "allowruntimeparams": True}},
    {"work-kubernetes": {"worktype": "kubernetes-incluster-auth", "authmethod": "incluster",
                         "allowruntimeauth": True, "allowruntimepod": True, "allowruntimeparams": True}},
]


def compose(spec: NodeSpec) -> list[dict[str, Any]]:
    """receptor.conf's entries for ``spec``, in the order of AWX's install bundle."""
    node: dict[str, Any] = {"id": spec.node_id}
    if spec.accept_work_from:
        node["firewallrules"] = firewall_rules(spec.node_id, spec.accept_work_from)
    entries: list[dict[str, Any]] = [{"node": node}, {"log-level": "info"}]
    if spec.listen is None and not spec.peers:
        entries.append({"local-only": None})
    allowed = {"allowedpeers": list(spec.allow_peers)} if spec.allow_peers else {}
    if spec.listen is not None:
        address = {"bindaddr": spec.bind} if spec.bind else {}
        entries.append({"tcp-listener": {**address, "port": spec.listen, "tls": TLS_SERVER, **allowed}})
    for peer in spec.peers:
        entries.append({"tcp-peer": {"address": peer, "tls": TLS_CLIENT, **allowed}})
    entries.append({"control-service": {"service": "control", "filename": CONTROL_SOCKET,
                                        "permissions": FileMode(SOCKET_PERMISSIONS)}})
    if spec.bundle:
        entries += [
            {"tls-server": {"name": TLS_SERVER, "cert": spec.path(NODE_CERT), "key": spec.path(NODE_KEY),
                            "requireclientcert": True, "clientcas": spec.path(CA_CERT)}},
            {"tls-client": {"name": TLS_CLIENT, "cert": spec.path(NODE_CERT), "key": spec.path(NODE_KEY),
                            "rootcas": spec.path(CA_CERT)}},
        ]
    entries += _work(spec)
    return entries


def _work(spec: NodeSpec) -> list[dict[str, Any]]:
    if spec.role == "execution":
        return [{"work-verification": {"publickey": spec.path(VERIFYING_KEY)}},
                {"work-command": {"worktype": "ansible-runner", "command": "ansible-runner", "params": "worker",
                                  "allowruntimeparams": True, "verifysignature": True}}]
    if spec.role == "control":
        signing = [
            {"work-signing": {"privatekey": spec.path(SIGNING_KEY), "tokenexpiration": TOKEN_EXPIRATION}},
            # AWX runs jobs on a hybrid/control node as "local" work through the same socket.
            {"work-command": {"worktype": "local", "command": "ansible-runner", "params": "worker",
                              "allowruntimeparams": True}},
        ] if spec.bundle else []
        return [*signing, *[{name: dict(body) for name, body in entry.items()} for entry in KUBERNETES_WORK]]
    return []


def firewall_rules(node_id: str, accept_from: tuple[str, ...]) -> list[dict[str, str]]:
    """Accept the listed nodes at this node's control service, reject the rest there.

    receptor runs the rules on every data message it handles, those it forwards for others
    included (routing updates and service adverts are not data messages and pass). So every rule
    names ``tonode``: a hop must keep forwarding work to the nodes behind it. Reject rather than
    drop, so a refused submitter hears "blocked by firewall" at once instead of timing out."""
    rules = [{"action": "accept", "fromnode": peer, "tonode": node_id, "toservice": "control"}
             for peer in accept_from]
    return rules + [{"action": "reject", "tonode": node_id, "toservice": "control"}]


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # the same allowedpeers on several entries stays readable, not &id001/*id001


_Dumper.add_representer(FileMode, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:int",
                                                                                 f"0{value:o}"))
_Dumper.add_representer(type(None), lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:null", ""))


def render(entries: list[dict[str, Any]]) -> str:
    return yaml.dump(entries, Dumper=_Dumper, sort_keys=False, explicit_start=True, default_flow_style=False,
                     width=120)


# The image's built-in config: awx-ee's control-plane default.
IMAGE_CONTROL = NodeSpec(node_id="awx", role="control", bundle=False)


# Checks of what the user gives ---------------------------------------------------------------------

NODE_ID_HELP = ("a receptor node ID: non-empty, no whitespace or control characters, no '/', not 'localhost' "
                "(receptor reserves it), e.g. exec-1.example.com")


def node_id(value: str, where: str) -> str:
    """``value`` as a node ID; a UserError at ``where`` otherwise. '/' is refused as receptor keeps
    a unit folder per node ID, and a leading '/' would turn firewall rules into regular expressions."""
    if (not value or any(ch.isspace() or not ch.isprintable() for ch in value)
            or "/" in value or value in (".", "..") or value.lower() == "localhost"):
        raise UserError(f"{where}: {value!r} is not usable. Expected {NODE_ID_HELP}.")
    return value


_DNS = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                  r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def hostname(value: str, where: str) -> str:
    """A DNS name or an IP address, as it goes into the certificate."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _DNS.fullmatch(value):
        raise UserError(f"{where}: {value!r} is neither a DNS name nor an IP address. Expected the name or "
                        f"address peers use to reach the node, e.g. exec-1.example.com or 10.0.0.5.")
    return value.rstrip(".")


def peer(value: str, where: str) -> str:
    """``HOST:PORT`` (an IPv6 host in brackets), as receptor's tcp-peer address."""
    expected = ("Expected HOST:PORT with a DNS name or IP address and a port 1-65535, e.g. hop-1.example.com:27199 "
                "or [2001:db8::1]:27199.")
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UserError(f"{where}: {value!r} has no usable port. {expected}")
    if host.startswith("[") and host.endswith("]"):
        try:
            if ipaddress.ip_address(host[1:-1]).version == 6:
                return value
        except ValueError:
            pass
        raise UserError(f"{where}: {value!r}: {host} is not an IPv6 address. {expected}")
    if not host or ":" in host:
        raise UserError(f"{where}: {value!r} has no usable host. {expected}")
    try:
        hostname(host, where)
    except UserError:
        raise UserError(f"{where}: {value!r}: {host!r} is neither a DNS name nor an IP address. {expected}") from None
    return value


def install_dir(value: str, where: str) -> str:
    if not value.startswith("/") or any(not ch.isprintable() for ch in value):
        raise UserError(f"{where}: {value!r} is not an absolute path. Expected where the files will live on the "
                        f"node, e.g. /etc/receptor.")
    return str(PurePosixPath(value))
