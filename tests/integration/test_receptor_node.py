"""A receptor node driven by the REAL receptorctl 1.6.9 (its CLI, and its ReceptorControl API as AWX
uses it), from its own venv. The node is the stand-in in tests/harness/receptor/, or a real
receptor when EE_RECEPTOR names one: the same assertions hold for both."""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.harness.receptor import node as receptor
from tests.helpers import receptorctl, receptorctl_python

VERSION_WARNING = "receptorctl and receptor are different versions"


def receptorctl_version() -> str:
    return receptorctl_python("import importlib.metadata as m; print(m.version('receptorctl'))").stdout.strip()


def unit_status(socket, unit_id: str) -> dict:
    return json.loads(receptorctl(socket, "work", "list", "--unit_id", unit_id).stdout)[unit_id]


def submit(socket, worktype: str, *args: str) -> str:
    """``work submit`` without following; returns the unit ID receptorctl printed."""
    result = receptorctl(socket, "work", "submit", worktype, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("Unit ID: ", 1)[1].strip()


def wait_for_state(socket, unit_id: str, states: set[int], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = unit_status(socket, unit_id)
        if status["State"] in states or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_status_shows_the_node_and_its_work_types(receptor_node):
    result = receptorctl(receptor_node.socket, "status")
    assert result.returncode == 0, result.stderr
    assert "Node ID: ee-test" in result.stdout
    work_types = next(line for line in result.stdout.splitlines() if line.startswith("ee-test") and "cat" in line)
    assert {"cat", "ansible-runner", "fail", "sleep"} <= set(work_types.split(None, 1)[1].split(", "))

    as_json = receptorctl(receptor_node.socket, "status", "--json")
    status = json.loads(as_json.stdout)
    assert status["NodeID"] == "ee-test" and status["SystemCPUCount"] >= 1
    commands = {c["WorkType"] for ad in status["Advertisements"] for c in (ad["WorkCommands"] or [])}
    assert "ansible-runner" in commands
    # receptorctl warns exactly when the node's Version is not its own (the stand-in reports 1.6.9).
    warned = status["Version"] != receptorctl_version()
    assert (VERSION_WARNING in result.stderr, VERSION_WARNING in as_json.stderr) == (warned, warned)


def test_submit_follow_and_release(receptor_node):
    result = receptorctl(receptor_node.socket, "work", "submit", "cat", "--payload-literal", "hello", "-f", "--rm")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "hello"
    assert lines[-1].startswith("(") and lines[-1].endswith(", released)")
    assert json.loads(receptorctl(receptor_node.socket, "work", "list").stdout) == {}
    assert list((receptor_node.datadir / "ee-test").iterdir()) == []


# AWX's execution-node flow (awx/main/tasks/receptor.py): transmit into a socketpair from a thread,
# submit_work with that payload, get_work_results(return_socket=True), process the stream.
AWX_FLOW = r"""
import json, socket, sys, threading, time
import ansible_runner
from receptorctl.socket_interface import ReceptorControl

control, worktype, private = sys.argv[1:4]
# Container groups add params (a file of JSON) and leave the unit for the caller to release.
params = json.load(open(sys.argv[4])) if len(sys.argv) > 4 else None
sockin, sockout = socket.socketpair()

def transmit():
    with sockin.makefile("wb") as out:
        ansible_runner.interface.run(streamer="transmit", _output=out, private_data_dir=private,
                                     playbook="site.yml")
    sockin.close()

threading.Thread(target=transmit, daemon=True).start()
with sockout.makefile("rb") as payload:
    unit = ReceptorControl(control).submit_work(worktype=worktype, payload=payload, params=params)["unitid"]
sockout.close()
resultsock, resultfile = ReceptorControl(control).get_work_results(unit, return_socket=True, return_sockfile=True)
events = []
res = ansible_runner.interface.run(streamer="process", quiet=True, _input=resultfile, private_data_dir=private,
                                   event_handler=lambda event: events.append(event) or True)
resultsock.close()
# process returns at the stream's {"eof": true}, which can come before the worker has exited.
for _ in range(300):
    state = ReceptorControl(control).simple_command(f"work status {unit}")
    if state["State"] >= 2:
        break
    time.sleep(0.2)
released = None if params else ReceptorControl(control).simple_command(f"work release {unit}")
print(json.dumps({"unit": unit, "status": res.status, "rc": res.rc, "state": state, "released": released,
                  "stdout": [e.get("stdout", "") for e in events]}))
"""


def test_awx_execution_node_flow(receptor_node, tmp_path):
    private = tmp_path / "private"
    (private / "project").mkdir(parents=True)
    (private / "project" / "site.yml").write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - debug: {msg: hello from the receptor node}\n")
    result = receptorctl_python(AWX_FLOW, str(receptor_node.socket), "ansible-runner", str(private))
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["status"] == "successful", outcome
    assert outcome["state"]["StateName"] == "Succeeded" and outcome["state"]["Detail"] == "exit status 0"
    assert any("hello from the receptor node" in line for line in outcome["stdout"]), outcome["stdout"]
    assert outcome["released"] == {"released": outcome["unit"]}


def test_failed_unit(receptor_node):
    unit = submit(receptor_node.socket, "fail", "--no-payload")
    status = wait_for_state(receptor_node.socket, unit, {2, 3, 4})
    assert (status["State"], status["StateName"], status["Detail"]) == (3, "Failed", "exit status 3")

    results = receptorctl(receptor_node.socket, "work", "results", unit)
    assert results.returncode == 1
    assert "going down" in results.stdout
    assert "Remote unit failed: exit status 3" in results.stderr


def test_runtime_params_refused_cancel_and_release(receptor_node):
    refused = receptorctl(receptor_node.socket, "work", "submit", "cat", "--no-payload", "-a", "params=-n")
    assert refused.returncode == 101
    assert "extra params provided but not allowed" in refused.stderr

    unit = submit(receptor_node.socket, "sleep", "--no-payload", "-a", "params=300")
    assert wait_for_state(receptor_node.socket, unit, {1})["StateName"] == "Running"
    cancelled = receptorctl(receptor_node.socket, "work", "cancel", unit)
    assert cancelled.returncode == 0 and f"({unit}, cancelled)" in cancelled.stdout
    status = wait_for_state(receptor_node.socket, unit, {4})
    assert (status["State"], status["StateName"]) == (4, "Canceled")

    released = receptorctl(receptor_node.socket, "work", "release", unit)
    assert released.returncode == 0 and f"({unit}, released)" in released.stdout
    assert json.loads(receptorctl(receptor_node.socket, "work", "list").stdout) == {}
    assert not (receptor_node.datadir / "ee-test" / unit).exists()


@pytest.mark.skipif(not receptor.is_stand_in(), reason="the stand-in's own refusal; EE_RECEPTOR names a real receptor")
def test_stand_in_refuses_what_it_does_not_do(tmp_path):
    config = receptor.write_config(tmp_path, "ee-test", [{"tcp-listener": {"port": 2222}}])
    result = subprocess.run([str(receptor.STAND_IN), "--config", str(config)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode != 0
    assert "tcp-listener: not supported by the stand-in" in result.stderr
    assert not (tmp_path / "receptor.sock").exists()
