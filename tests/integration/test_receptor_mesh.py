"""The configs of `ee-builder receptor config` run a real mesh: control -> hop -> execution over TCP
on 127.0.0.1 with mutual TLS from the generated mesh CA, and signed work. Only with a real receptor
(``EE_RECEPTOR``): the stand-in has no TCP, TLS or signing. The configs are used as generated, but
for the test's own paths: the install dir is the bundle folder, and the control socket and the
data dir move into it."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.harness.receptor import work
from builder import receptor_binary, receptor_config as rc
from builder.errors import UserError
from tests.helpers import ROOT, ee_builder, receptorctl, receptorctl_bin


@pytest.fixture(scope="module")
def real_receptor() -> str:
    binary = os.environ.get("EE_RECEPTOR")
    if not binary:
        pytest.skip("needs a real receptor (TCP, TLS and work signing are beyond the stand-in): "
                    "set EE_RECEPTOR=/path/to/receptor")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"EE_RECEPTOR={binary} is not an executable file")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Running:
    node_id: str
    socket: Path
    log: Path
    process: subprocess.Popen


def generate(mesh: Path, role: str, node_id: str, *args: str) -> Path:
    bundle = mesh / node_id
    result = ee_builder("receptor", "config", "--role", role, "--node-id", node_id, "--mesh", str(mesh),
                        "--out", str(bundle), "--install-dir", str(bundle), *args, cwd=mesh.parent)
    assert result.returncode == 0, result.stderr
    return bundle


def start(binary: str, bundle: Path, env: dict[str, str] | None = None) -> Running:
    """receptor on the bundle's receptor.conf, with the socket and data dir moved into the bundle."""
    entries = yaml.safe_load((bundle / "receptor.conf").read_text())
    for entry in entries:
        if "node" in entry:
            entry["node"]["datadir"] = str(bundle / "data")
            node_id = entry["node"]["id"]
        if "control-service" in entry:
            entry["control-service"]["filename"] = str(bundle / "receptor.sock")
    config = bundle / "test.conf"
    config.write_text(yaml.safe_dump(entries, sort_keys=False))
    log = bundle / "receptor.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([binary, "--config", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, start_new_session=True)
    node = Running(node_id, bundle / "receptor.sock", log, process)
    deadline = time.monotonic() + 15
    while not node.socket.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            work.stop(process, signal.SIGTERM)
            raise AssertionError(f"receptor {node_id} did not open its socket:\n{log.read_text()}")
        time.sleep(0.05)
    return node


def status(node: Running) -> dict:
    result = receptorctl(node.socket, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def work_types(advertisements: list[dict], node_id: str) -> set[str]:
    return {c["WorkType"] for ad in advertisements if ad["NodeID"] == node_id for c in (ad.get("WorkCommands") or [])}


def wait_for(node: Running, what, timeout: float = 45):
    deadline = time.monotonic() + timeout
    while True:
        found = what(status(node))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def submit(node: Running, *args: str) -> str:
    result = receptorctl(node.socket, "work", "submit", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("Unit ID: ", 1)[1].strip()


@pytest.fixture(scope="module")
def mesh(real_receptor, tmp_path_factory):
    """awx (control) -> hop -> exec (execution, takes work from awx only, lets only hop connect),
    and awx2, a second control node of the same mesh that neither exec nor hop lists."""
    mesh = tmp_path_factory.mktemp("mesh") / "receptor-mesh"
    hop_port, exec_port = free_port(), free_port()
    bundles = {
        "exec": generate(mesh, "execution", "exec", "--listen", str(exec_port), "--bind", "127.0.0.1",
                         "--hostname", "127.0.0.1", "--allow-peer", "hop", "--accept-work-from", "awx"),
        # The hop's own rules must not stop what it forwards to exec (awx2's pings, awx's work).
        "hop": generate(mesh, "hop", "hop", "--listen", str(hop_port), "--bind", "127.0.0.1",
                        "--hostname", "127.0.0.1", "--peer", f"127.0.0.1:{exec_port}", "--accept-work-from", "awx"),
        "awx": generate(mesh, "control", "awx", "--peer", f"127.0.0.1:{hop_port}"),
        "awx2": generate(mesh, "control", "awx2", "--peer", f"127.0.0.1:{hop_port}"),
    }
    runner = {"PATH": f"{receptorctl_bin('ansible-runner').parent}:{os.environ['PATH']}"}
    nodes: dict[str, Running] = {}
    try:
        for name in ("exec", "hop", "awx", "awx2"):
            nodes[name] = start(real_receptor, bundles[name], runner if name == "exec" else None)
        for name in ("awx", "awx2"):
            seen = wait_for(nodes[name], lambda s: "ansible-runner" in work_types(s["Advertisements"], "exec"))
            assert seen, f"{name} never saw exec's work types:\n" + "\n".join(
                f"--- {n}\n{nodes[n].log.read_text()[-3000:]}" for n in nodes)
        yield nodes
    finally:
        for node in nodes.values():
            work.stop(node.process, signal.SIGTERM)


@pytest.fixture
def payload(tmp_path) -> Path:
    """An ansible-runner transmit stream of a local playbook, as AWX sends to an execution node."""
    private = tmp_path / "private"
    (private / "project").mkdir(parents=True)
    (private / "project" / "site.yml").write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - debug: {msg: hello across the mesh}\n")
    path = tmp_path / "payload"
    with open(path, "wb") as out:
        subprocess.run([str(receptorctl_bin("ansible-runner")), "transmit", str(private), "-p", "site.yml"],
                       stdout=out, check=True, timeout=60)
    return path


def test_the_mesh_routes_through_the_hop(mesh):
    routes = status(mesh["awx"])["RoutingTable"]
    assert routes["exec"] == "hop" and routes["hop"] == "hop"
    # The hop carries no work, and the control node's own types are there for AWX.
    adverts = status(mesh["awx"])["Advertisements"]
    assert work_types(adverts, "hop") == set()
    assert work_types(adverts, "awx") >= {"local", "kubernetes-runtime-auth", "kubernetes-incluster-auth"}


def test_signed_ansible_runner_work_runs_on_the_execution_node(mesh, payload):
    # --delete: runtime params, as AWX adds them (allowruntimeparams), are signed along with the rest.
    result = receptorctl(mesh["awx"].socket, "work", "submit", "ansible-runner", "--node", "exec", "--signwork",
                         "--payload", str(payload), "-a", "params=--delete", "-f", "--rm")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert any("hello across the mesh" in e.get("stdout", "") for e in events), result.stdout[-3000:]
    assert [e["status"] for e in events if "status" in e][-1] == "successful", result.stdout[-3000:]


def test_unsigned_work_is_refused(mesh):
    result = receptorctl(mesh["awx"].socket, "work", "submit", "ansible-runner", "--node", "exec", "--no-payload")
    assert result.returncode == 101
    assert "could not verify signature: signature is empty" in result.stderr, result.stderr


def test_a_node_not_accepted_cannot_reach_the_control_service(mesh):
    # awx2 signs with the mesh's key like awx, so only exec's firewall rules stand in its way.
    units_on_exec = json.loads(receptorctl(mesh["exec"].socket, "work", "list").stdout)
    unit = submit(mesh["awx2"], "ansible-runner", "--node", "exec", "--signwork", "--no-payload")
    refusal = "Received unreachable message from exec (service unreach) to awx2"
    deadline = time.monotonic() + 30
    while refusal not in blocked(mesh["awx2"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert f"{refusal} (service unreach): ttl" in blocked(mesh["awx2"]), mesh["awx2"].log.read_text()[-3000:]
    assert blocked(mesh["awx2"]).rstrip().endswith("data blocked by firewall")
    state = json.loads(receptorctl(mesh["awx2"].socket, "work", "list", "--unit_id", unit).stdout)[unit]
    assert state["StateName"] == "Pending", state  # awx2 keeps trying; AWX would show the job waiting
    assert json.loads(receptorctl(mesh["exec"].socket, "work", "list").stdout) == units_on_exec
    # Only the control service is closed to awx2: exec still answers its pings through the hop.
    ping = receptorctl(mesh["awx2"].socket, "ping", "exec", "--count", "1")
    assert ping.returncode == 0 and "Reply from exec" in ping.stdout, ping
    receptorctl(mesh["awx2"].socket, "work", "release", "--force", unit)


def blocked(node: Running) -> str:
    return "\n".join(line for line in node.log.read_text().splitlines() if "blocked by firewall" in line)


def test_check_runs_receptor_on_the_bundle_and_reports_what_it_refused(real_receptor, tmp_path):
    """`receptor config --check` with the receptor from the settings (receptor.binary)."""
    (tmp_path / "ee-builder.yml").write_text(f"definition: {ROOT / 'execution-environment.yml'}\n"
                                             f"receptor:\n  binary: {real_receptor}\n")
    mesh = tmp_path / "mesh"

    def config(node_id: str, *args: str):
        return ee_builder("receptor", "config", "--role", "execution", "--node-id", node_id, "--mesh", str(mesh),
                          "--listen", "27199", "--install-dir", str(mesh / node_id), *args, cwd=tmp_path)

    checked = config("exec1", "--check")
    assert checked.returncode == 0, checked.stderr
    assert "runs on this bundle" in checked.stdout and real_receptor in checked.stdout
    # Another node's certificate in exec1's bundle: receptor itself refuses it.
    assert config("exec2").returncode == 0
    for name in ("receptor.crt", "receptor.key"):
        (mesh / "exec1" / "tls" / name).write_bytes((mesh / "exec2" / "tls" / name).read_bytes())
    result = subprocess.run([real_receptor, "--config", str(mesh / "exec1" / "receptor.conf")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0  # the bundle as it is now cannot run; --check must say so too
    with pytest.raises(UserError, match=r"did not run on this bundle: .*exec1"):
        receptor_binary.check_bundle(Path(real_receptor), rc.NodeSpec("exec1", "execution", listen=27199,
                                                                      install_dir=str(mesh / "exec1")),
                                     mesh / "exec1")
