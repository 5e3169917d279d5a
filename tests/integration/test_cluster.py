"""The local Kubernetes (tests/harness/cluster/) does what receptor's work-kubernetes needs: pods from the
TLS + htpasswd registry with a pull secret, logs -f, attach with stdin, exec, OOMKilled and
image-pull failures reported, deletion, and repeated down/up (cluster DNS included; its own tests
are in test_cluster_dns.py)."""
from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.harness.cluster import coredns
from tests.harness.cluster.registry import REGISTRY
from tests.helpers import IMAGE

BASE = "localhost/debian:bookworm"  # bootstrapped by `make build`; the smallest image we have


def pod(name: str, image: str, command: list[str], **container) -> str:
    spec = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "imagePullSecrets": [{"name": "registry"}],
                     "containers": [{"name": "main", "image": image, "command": command,
                                     "imagePullPolicy": "IfNotPresent", **container}]}}
    return yaml.safe_dump(spec)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def wait_for(cluster, name: str, condition, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = json.loads(cluster.kubectl("get", "pod", name, "-o", "json").stdout)
        if condition(state):
            return state
        time.sleep(1)
    raise AssertionError(f"pod {name}: condition not reached in {timeout}s: {json.dumps(state['status'])[:2000]}")


def phase_is(*phases):
    return lambda state: state["status"].get("phase") in phases


def waiting_reason(state) -> str | None:
    for status in state["status"].get("containerStatuses", []):
        if "waiting" in status["state"]:
            return status["state"]["waiting"].get("reason")
    return None


@pytest.fixture(scope="module")
def base(cluster, built):
    cluster.pull_secret("registry")
    return cluster.push(BASE, "test/debian:bookworm")


def test_pod_from_the_registry_with_a_pull_secret_runs_to_completion(cluster, base):
    name = unique("hello")
    cluster.kubectl("apply", "-f", "-", input=pod(name, base, ["bash", "-c", "echo hello from $(hostname)"]))
    state = wait_for(cluster, name, phase_is("Succeeded", "Failed"))
    assert state["status"]["phase"] == "Succeeded"
    assert cluster.kubectl("logs", name).stdout == f"hello from {name}\n"
    assert state["status"]["podIP"].startswith("10.244.0.")


def test_image_loaded_without_a_registry_runs(cluster, built):
    """Images can also go straight from the Docker engine into the cluster's containerd."""
    cluster.load(BASE)
    name = unique("loaded")
    manifest = yaml.safe_load(pod(name, BASE, ["cat", "/etc/debian_version"]))
    manifest["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    state = wait_for(cluster, name, phase_is("Succeeded", "Failed"))
    assert state["status"]["phase"] == "Succeeded"
    assert cluster.kubectl("logs", name).stdout.startswith("12.")


def test_logs_follow_streams_until_the_container_ends(cluster, base):
    name = unique("follow")
    cluster.kubectl("apply", "-f", "-", input=pod(name, base, ["bash", "-c", "for i in 1 2 3 4 5; do echo line $i; sleep 1; done"]))
    wait_for(cluster, name, phase_is("Running", "Succeeded"))
    follow = cluster.kubectl("logs", "-f", name, timeout=60)
    assert follow.stdout.splitlines() == [f"line {i}" for i in range(1, 6)]


def test_attach_feeds_stdin(cluster, base):
    """receptor sends the job's payload to the worker through attach."""
    name = unique("attach")
    cluster.kubectl("apply", "-f", "-", input=pod(name, base, ["bash", "-c", "read -r line; echo got: $line"],
                                                  stdin=True, stdinOnce=True))
    wait_for(cluster, name, phase_is("Running"))
    cluster.kubectl("attach", "-i", name, "-c", "main", input="payload-42\n", timeout=60)
    wait_for(cluster, name, phase_is("Succeeded", "Failed"))
    assert cluster.kubectl("logs", name).stdout.strip() == "got: payload-42"


def test_exec_runs_in_the_container(cluster, base):
    name = unique("exec")
    cluster.kubectl("apply", "-f", "-", input=pod(name, base, ["sleep", "300"]))
    wait_for(cluster, name, phase_is("Running"))
    result = cluster.kubectl("exec", name, "--", "cat", "/etc/debian_version")
    assert result.stdout.startswith("12.")
    cluster.kubectl("delete", "pod", name, "--wait=true", "--timeout=60s")
    assert cluster.kubectl("get", "pod", name, check=False).returncode != 0  # deleted


def test_memory_limit_reports_oomkilled(cluster, base):
    name = unique("oom")
    cluster.kubectl("apply", "-f", "-", input=pod(name, base, ["bash", "-c", "tail /dev/zero"],
                                                  resources={"limits": {"memory": "32Mi"}}))
    state = wait_for(cluster, name, phase_is("Failed"))
    terminated = state["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "OOMKilled", terminated


@pytest.mark.parametrize("image, secret", [
    (f"{REGISTRY}/test/absent:1", True),            # no such image
    (f"{REGISTRY}/test/debian:bookworm", False),    # no credentials: the registry refuses
])
def test_unpullable_image_reports_pull_errors(cluster, base, image, secret):
    name = unique("unpullable")
    manifest = yaml.safe_load(pod(name, image, ["true"]))
    if not secret:
        del manifest["spec"]["imagePullSecrets"]
        manifest["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    state = wait_for(cluster, name, lambda s: waiting_reason(s) in ("ErrImagePull", "ImagePullBackOff"))
    assert waiting_reason(state) in ("ErrImagePull", "ImagePullBackOff")
    cluster.kubectl("delete", "pod", name, "--wait=false")


def test_ee_image_from_make_build_runs_ansible_runner(cluster, built):
    image = cluster.push(IMAGE, "ee/awx-ee-kerberos:test")
    name = unique("ee")
    cluster.kubectl("apply", "-f", "-", input=pod(name, image, ["ansible-runner", "--version"]))
    state = wait_for(cluster, name, phase_is("Succeeded", "Failed"), timeout=300)
    logs = cluster.kubectl("logs", name).stdout
    assert state["status"]["phase"] == "Succeeded", logs
    assert logs.strip().splitlines()[-1] == "2.4.3", logs


def test_down_and_up_twice(cluster):
    """Teardown leaves no state, bridge or kubelet cgroups; the second bring-up also takes another
    containerLogMaxSize (large-output tests set it small)."""
    for size in ("10Mi", "1Mi"):
        cluster.down()
        assert not cluster.state.exists()
        assert subprocess.run(["ip", "link", "show", "ee-k8s0"], capture_output=True).returncode != 0
        assert not Path("/sys/fs/cgroup/memory/kubepods").exists()
        cluster.container_log_max_size = size
        cluster.up()
        # The kubelet's own view (the API server refuses to proxy to a loopback node address).
        configz = json.loads(subprocess.run(
            ["curl", "-sfk", "--cert", str(cluster.pki / "admin.crt"), "--key", str(cluster.pki / "admin.key"),
             "https://127.0.0.1:10250/configz"], capture_output=True, text=True, check=True).stdout)
        assert configz["kubeletconfig"]["containerLogMaxSize"] == size
        # Cluster DNS comes back with it (its forwards are state, gone with the rest).
        assert configz["kubeletconfig"]["clusterDNS"] == [cluster.dns]
        assert coredns.answers(cluster) and coredns.forwards(cluster) == {}
