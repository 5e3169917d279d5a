"""Faults in AWX's container-group path (issue 15, suite item 5), each through ``builder.verify.run_job``
(the EE image from `make build` loaded in the local cluster, receptor = the stand-in or EE_RECEPTOR):
each ends with a clear Outcome (not passed, receptor's Detail) within a bounded time, nothing hangs,
and no pod is left behind once the unit is released.

- pod deleted while a task sleeps: the log stream ends with the container and the pod cannot be
  fetched again: "Error getting pod <ns>/<pod>. Error: pods "<pod>" not found";
- OOMKilled worker: the stand-in fails the unit as newer receptors do (PR #1444); receptor v1.4.x
  calls it Succeeded, and only ansible-runner's process (a stream that stops without its eof) says
  the job did not run through;
- an image the registry does not have, pulled Always: "container failed to start, ImagePullBackOff"
  or, within a short pod_pending_timeout, "timed out waiting for the condition, ErrImagePull" (or
  ImagePullBackOff);
- a pod no node can take (nodeSelector): "timed out waiting for the condition" at
  pod_pending_timeout;
- receptor restarted mid-job: as with AWX, the results stream breaks (the job errs: ansible-runner's
  "Unexpected empty line …"), the restarted node resumes the unit from its pod and completes it,
  and its results hold the whole job once (no duplicate from the resumed log stream);
- `work cancel` while the job runs: the pod goes, the unit is Canceled.
A failing playbook is the "failure" suite of test_verify.py."""
from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from builder import awx, verify
from tests.harness.cluster.registry import REGISTRY
from tests.harness.receptor import node as receptor
from tests.helpers import IMAGE, receptorctl

NAMESPACE = "ee-verify-faults"
WORKERS = [{"work-kubernetes": {"worktype": "kubernetes-runtime-auth", "authmethod": "runtime",
                                "allowruntimeauth": True, "allowruntimepod": True, "allowruntimeparams": True}}]
UNREAD_STREAM = "Unexpected empty line encountered during worker stream"  # ansible-runner process, no eof


def sleeper(seconds: int) -> verify.Job:
    return verify.Job(f"sleep {seconds}s", verify._play(
        "    - ansible.builtin.debug:\n        msg: before the sleep\n"
        f"    - ansible.builtin.command: sleep {seconds}\n      changed_when: false\n"
        "    - ansible.builtin.debug:\n        msg: after the sleep\n"), must_show=("after the sleep",))


@dataclass
class Restartable:
    """A receptor node with AWX's container-group work type that a test may stop and start again
    on the same config and data dir."""
    directory: Path
    env: dict[str, str]
    node: receptor.Node = field(init=False)

    def __post_init__(self):
        self.node = receptor.start(self.directory, "ee-test", WORKERS, env=self.env)

    def restart(self) -> float:
        """SIGTERM, then a new node on the same data dir; the seconds the socket was away."""
        started = time.monotonic()
        self.node.stop()
        self.node = receptor.start(self.directory, "ee-test", WORKERS, env=self.env)
        return time.monotonic() - started


@pytest.fixture
def node(tmp_path, cluster):
    kubectl = cluster.binary("kubectl").parent
    held = Restartable(tmp_path, {"PATH": f"{kubectl}:{os.environ['PATH']}"})
    yield held
    held.node.stop()


@pytest.fixture(autouse=True)
def no_pod_behind(cluster):
    """Whatever a failed test left in the namespace goes (the tests assert none was left first)."""
    yield
    cluster.kubectl("delete", "pods", "-n", NAMESPACE, "--all", "--grace-period=0", "--force", check=False)


@pytest.fixture(scope="module")
def namespace(cluster, ee_in_cluster):
    if cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", NAMESPACE)
    deadline = time.monotonic() + 60  # the pods run as the namespace's default service account
    while cluster.kubectl("get", "serviceaccount", "default", "-n", NAMESPACE, check=False).returncode != 0:
        assert time.monotonic() < deadline, "no default service account in the namespace"
        time.sleep(1)
    return NAMESPACE


def target(node: Restartable, cluster, image: str = IMAGE, pull: str = "missing", pending: str = "2m",
           worker: dict | None = None, spec: dict | None = None) -> verify.Target:
    """A Target whose override is ee-builder's container-group pod plus ``worker`` (merged into the
    worker container; the override carries the whole container, since lists replace whole) and
    ``spec`` entries."""
    override = awx.container_group_pod_spec(image, namespace=NAMESPACE, configmap=None)
    override["spec"]["containers"][0].update(worker or {})
    override["spec"].update(spec or {})
    return verify.Target(control=node.node.socket, image=image, pull=pull, kubeconfig=cluster.kubeconfig.read_text(),
                         override=override, pending_timeout=pending)


class Background:
    """run_job in a thread: the test does the fault meanwhile."""

    def __init__(self, target: verify.Target, job: verify.Job, job_id: int):
        self.outcome: verify.Outcome | None = None
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, args=(target, job, job_id), daemon=True)
        self.thread.start()

    def _run(self, target, job, job_id):
        try:
            self.outcome = verify.run_job(target, job, verify.CONTAINER_GROUP, job_id=job_id)
        except BaseException as err:  # reported by result()
            self.error = err

    def result(self, timeout: float) -> verify.Outcome:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"run_job still running after {timeout}s"
        if self.error is not None:
            raise AssertionError(f"run_job raised {type(self.error).__name__}: {self.error}")
        return self.outcome


def job_pods(cluster, job_id: int) -> list[str]:
    got = cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", f"ansible-awx-job-id={job_id}", "-o", "name")
    return [name.split("/", 1)[1] for name in got.stdout.split()]


def running_unit(node: Restartable, timeout: float = 120) -> dict:
    """The node's one unit once it is Running with its pod (the payload is in: the job runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = receptorctl(node.node.socket, "work", "list")
        units = json.loads(listed.stdout) if listed.returncode == 0 and listed.stdout.strip() else {}
        for unit_id, state in units.items():
            if state["StateName"] == "Running":
                return {"unit": unit_id, **state}
            assert state["State"] < 2, state
        time.sleep(0.5)
    raise AssertionError(f"no Running unit within {timeout}s")


def wait_stdout(node: Restartable, unit: str, text: str, timeout: float = 60) -> None:
    path = node.node.datadir / node.node.node_id / unit / "stdout"
    deadline = time.monotonic() + timeout
    while text.encode() not in (path.read_bytes() if path.exists() else b""):
        assert time.monotonic() < deadline, f"{text!r} not in the unit's stdout within {timeout}s"
        time.sleep(0.5)


def no_pod_left(cluster, job_id: int, timeout: float = 60) -> float:
    """Seconds until the job's pods are gone (released units delete theirs); fails past ``timeout``,
    deleting what is left so no test leaves a pod behind."""
    started = time.monotonic()
    while job_pods(cluster, job_id):
        if time.monotonic() - started > timeout:
            left = job_pods(cluster, job_id)
            cluster.kubectl("delete", "pods", "-n", NAMESPACE, "-l", f"ansible-awx-job-id={job_id}",
                            "--grace-period=0", "--force", check=False)
            raise AssertionError(f"pods left {timeout}s after the job: {left}")
        time.sleep(1)
    return time.monotonic() - started


def job_id() -> int:
    return 900_000 + int(time.time() * 1000) % 99_999


def test_pod_deleted_mid_job_fails_with_receptors_detail(node, cluster, namespace):
    ident = job_id()
    job = Background(target(node, cluster), sleeper(120), ident)
    unit = running_unit(node)
    wait_stdout(node, unit["unit"], "before the sleep")
    pod = unit["ExtraData"]["PodName"]
    deleted = time.monotonic()
    cluster.kubectl("delete", "pod", pod, "-n", NAMESPACE, "--wait=false")
    outcome = job.result(timeout=120)
    took = time.monotonic() - deleted
    print(f"pod deleted: {outcome.status} after {took:.1f}s: {outcome.detail}")
    # The kubelet's SIGTERM reaches ansible-runner worker (dumb-init passes it on), which cancels
    # the play and ends its stream properly: runner says canceled (rc 254), as AWX would show the job.
    assert not outcome.passed and outcome.status in ("canceled", "error"), outcome
    # The log stream ends with the container; the pod is gone by the time receptor fetches it again.
    assert outcome.detail.startswith(f'Failed: Error getting pod {NAMESPACE}/{pod}. Error: pods "{pod}" '
                                     f'not found'), outcome.detail
    assert took < 75, took
    no_pod_left(cluster, ident)


def test_oom_killed_worker_is_not_a_success(node, cluster, namespace):
    ident = job_id()
    hog = verify.Job("memory hog", verify._play(
        "    - ansible.builtin.debug:\n        msg: before the allocation\n"
        "    - ansible.builtin.command: /usr/bin/python3 -c \"import time; b = b'x' * (1536 << 20); time.sleep(5)\"\n"
        "    - ansible.builtin.debug:\n        msg: after the allocation\n"), must_show=("after the allocation",))
    limited = target(node, cluster, worker={"resources": {"requests": {"cpu": "250m", "memory": "100Mi"},
                                                          "limits": {"memory": "384Mi"}}})
    started = time.monotonic()
    outcome = verify.run_job(limited, hog, verify.CONTAINER_GROUP, job_id=ident)
    took = time.monotonic() - started
    print(f"OOMKilled: {outcome.status} rc {outcome.rc} after {took:.1f}s: {outcome.detail}")
    assert not outcome.passed and outcome.status != "successful", outcome
    if receptor.is_stand_in():
        # The kernel kills the allocating process (exit code 137 when it is the worker itself, 2 when
        # only the task's process died and the play failed): the container is OOMKilled either way.
        assert outcome.detail.startswith("Failed: Error with pod's stdout: container worker terminated: reason "
                                         "OOMKilled, exit code "), outcome.detail
    else:  # v1.4.x: completion is the log's EOF, whatever killed the container; runner's status says it
        assert outcome.detail.startswith("Succeeded: Finished") and outcome.status in ("failed", "error"), outcome
    assert took < 120, took
    no_pod_left(cluster, ident)


def test_image_the_registry_lacks_fails_within_the_pending_timeout(node, cluster, namespace):
    ident = job_id()
    cluster.pull_secret("ee-faults-registry", NAMESPACE)
    absent = target(node, cluster, image=f"{REGISTRY}/ee-test/absent-ee:latest", pull="always", pending="20s",
                    spec={"imagePullSecrets": [{"name": "ee-faults-registry"}]})
    started = time.monotonic()
    outcome = verify.run_job(absent, verify.SUITES["smoke"][0], verify.CONTAINER_GROUP, job_id=ident)
    took = time.monotonic() - started
    print(f"image pull: {outcome.status} after {took:.1f}s: {outcome.detail}")
    assert not outcome.passed and outcome.status == "error" and outcome.events == 0, outcome
    assert re.match(r"Failed: Error creating pod: (container failed to start|timed out waiting for the condition), "
                    r"(ErrImagePull|ImagePullBackOff)(;|$)", outcome.detail), outcome.detail
    assert took < 20 + 25, took
    no_pod_left(cluster, ident)


def test_pod_pending_past_the_timeout_fails_at_the_timeout(node, cluster, namespace):
    ident = job_id()
    nowhere = target(node, cluster, pending="10s", spec={"nodeSelector": {"ee-builder.test/no-such-node": "x"}})
    started = time.monotonic()
    outcome = verify.run_job(nowhere, verify.SUITES["smoke"][0], verify.CONTAINER_GROUP, job_id=ident)
    took = time.monotonic() - started
    print(f"pending: {outcome.status} after {took:.1f}s: {outcome.detail}")
    assert not outcome.passed and outcome.status == "error" and outcome.events == 0, outcome
    assert outcome.detail.startswith("Failed: Error creating pod: timed out waiting for the condition"), outcome.detail
    assert 10 <= took < 10 + 20, took  # the 2 s receptor waits after creating the pod, and the job's own set-up
    no_pod_left(cluster, ident)


def test_receptor_restarted_mid_job_resumes_the_unit(node, cluster, namespace, monkeypatch):
    """AWX's results stream breaks when receptor stops, so the job errs (AWX then reads the unit's
    status and results again: they are there, the restarted node resumed the unit). verify reports
    the same: status error with ansible-runner's explanation, and the unit's final state."""
    ident = job_id()
    results: dict[str, bytes] = {}
    release = verify._release

    def keep_results(control, unit):  # what the unit holds at the end, before verify releases it
        got = receptorctl(control, "work", "results", unit)
        results[unit] = got.stdout.encode()
        release(control, unit)

    monkeypatch.setattr(verify, "_release", keep_results)
    job = Background(target(node, cluster), sleeper(20), ident)
    unit = running_unit(node)
    wait_stdout(node, unit["unit"], "before the sleep")
    away = node.restart()
    print(f"node restarted in {away:.1f}s")
    outcome = job.result(timeout=120)
    took = time.monotonic() - job.started
    print(f"restart: {outcome.status} after {took:.1f}s: {outcome.detail}")
    assert not outcome.passed and outcome.status == "error", outcome
    assert outcome.detail.startswith(f"Succeeded: Finished; ansible-runner: {UNREAD_STREAM}"), outcome.detail
    assert took < 100, took
    # The resumed unit's results: the whole job once, from the first event to the worker's eof.
    lines = [json.loads(line) for line in results[unit["unit"]].splitlines() if line.strip().startswith(b"{")]
    counters = [line["counter"] for line in lines if "counter" in line and line.get("event") != "keepalive"]
    assert counters and len(counters) == len(set(counters)), counters
    assert results[unit["unit"]].count(b'{"eof": true}') == 1 and results[unit["unit"]].rstrip().endswith(b"}")
    assert any("after the sleep" in line.get("stdout", "") for line in lines)
    no_pod_left(cluster, ident)


def test_work_cancel_removes_the_pod_and_the_unit_is_canceled(node, cluster, namespace):
    ident = job_id()
    job = Background(target(node, cluster), sleeper(120), ident)
    unit = running_unit(node)
    pod = unit["ExtraData"]["PodName"]
    canceled = time.monotonic()
    result = receptorctl(node.node.socket, "work", "cancel", unit["unit"])
    assert result.returncode == 0, result.stderr
    outcome = job.result(timeout=60)
    print(f"cancel: {outcome.status} after {time.monotonic() - canceled:.1f}s: {outcome.detail}")
    assert not outcome.passed and outcome.status == "error", outcome
    assert outcome.detail.startswith(f"Canceled: Canceled; ansible-runner: {UNREAD_STREAM}"), outcome.detail
    no_pod_left(cluster, ident, timeout=60)  # released too by now; the cancel deleted it
    print(f"cancel: pod {pod} gone {time.monotonic() - canceled:.1f}s after the cancel")
