"""`verify.run_job` at scale on the container-group path (issue 15, suite items 4 and 6), through
receptor (the stand-in, or a real one by EE_RECEPTOR) and the local cluster:

- big output through log rotation: a job whose events add up to more than 10x the kubelet's
  containerLogMaxSize (set to 1Mi for these tests, as README's cluster section says large-output
  tests do) arrives whole: runner counters 1..n, once each and in order, and the job succeeds;
- concurrency: 20 jobs at once on the 2-core node (AWX's pod requests 250m CPU, so most wait
  Pending), all succeed in bounded time and leave no pod and no unit behind.

The 100 MB case and the timings are in the benchmark (`make bench-jobs`, bench/jobs_bench.py)."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import pytest
import yaml

from builder import awx, verify
from tests.helpers import IMAGE, receptorctl

NAMESPACE = "ee-verify-scale"
LOG_MAX_SIZE = "1Mi"
MIB = 1024 * 1024
POD_LOGS = Path("/var/log/pods")  # the kubelet's podLogsDir: <ns>_<pod>_<uid>/<container>/0.log[.<time>[.gz]]


def loud_job(items: int, width: int = 1000, per_task: int = 1000) -> verify.Job:
    """Many events, not one giant result (ansible-runner empties a `res` over MAX_EVENT_RES):
    debug tasks looping over ``per_task`` items each, every item one event of a ``width``-byte
    message; item numbers run 1..items across the tasks."""
    tasks = ""
    for start in range(1, items + 1, per_task):
        end = min(start + per_task, items + 1)
        tasks += (f"    - ansible.builtin.debug:\n        msg: \"{{{{ item }}}} {{{{ pad }}}}\"\n"
                  f"      loop: \"{{{{ range({start}, {end}) | list }}}}\"\n")
    play = f"- hosts: all\n  gather_facts: false\n  vars:\n    pad: \"{{{{ 'x' * {width} }}}}\"\n  tasks:\n{tasks}"
    return verify.Job(f"{items} events", play, must_show=("(item=1)", f"(item={items})"))


def size_bytes(text: str) -> int:
    units = {"Ki": 1024, "Mi": MIB, "Gi": 1024 * MIB}
    return int(text[:-2]) * units[text[-2:]] if text[-2:] in units else int(text)


def continuous(counters: list) -> bool:
    """Every event once and in order: runner counters exactly 1..n as received."""
    return counters == list(range(1, len(counters) + 1))


@pytest.fixture(scope="module")
def small_logs(cluster):
    """The kubelet's containerLogMaxSize at 1Mi: `up()` leaves what runs alone and restarts only
    the kubelet, only when its configuration changes (a full run finds 1Mi already: test_cluster's
    second bring-up sets it). Put back afterwards when this module changed it."""
    configured = cluster.state / "kubelet.yaml"
    previous = yaml.safe_load(configured.read_text()).get("containerLogMaxSize") if configured.exists() else None
    if previous != LOG_MAX_SIZE:
        cluster.container_log_max_size = LOG_MAX_SIZE
        cluster.up()
    yield size_bytes(LOG_MAX_SIZE)
    if previous is not None and previous != LOG_MAX_SIZE:
        cluster.container_log_max_size = previous
        cluster.up()


@pytest.fixture(scope="module")
def scale_namespace(cluster, ee_in_cluster):
    if cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", NAMESPACE)
    return NAMESPACE


def target(node, cluster, pending_timeout: str = "2m") -> verify.Target:
    """AWX's container group: its default pod for the image in our namespace (no krb5 ConfigMap)."""
    override = awx.container_group_pod_spec(IMAGE, NAMESPACE, configmap=None)
    return verify.Target(control=node.socket, image=IMAGE, kubeconfig=cluster.kubeconfig.read_text(),
                         override=override, pending_timeout=pending_timeout)


def job_pods(cluster) -> list[str]:
    names = cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name").stdout.split()
    return [name for name in names if name.startswith("pod/automation-job-")]


class RotationWatch(threading.Thread):
    """The rotated files of a job pod's worker log the kubelet makes while the job runs."""

    def __init__(self, job_id: int):
        super().__init__(daemon=True)
        self.pattern, self.rotated, self.done = f"{NAMESPACE}_automation-job-{job_id}-*/worker/*.log.*", set(), False

    def run(self) -> None:
        while not self.done:
            self.rotated |= {path.name.removesuffix(".gz") for path in POD_LOGS.glob(self.pattern)}
            time.sleep(0.5)


def test_big_output_through_log_rotation_arrives_whole_and_in_order(kube_node, cluster, small_logs,
                                                                   scale_namespace):
    items, job_id = 4000, 910_001  # about 3.1 KB of worker stream per item event: some 12.4 MB, over 10x 1Mi
    watch = RotationWatch(job_id)
    watch.start()
    try:
        outcome = verify.run_job(target(kube_node, cluster), loud_job(items), verify.CONTAINER_GROUP, job_id)
    finally:
        watch.done = True
        watch.join()
    summary = (f"{outcome.status} rc={outcome.rc} {outcome.events} events {outcome.stdout_bytes / MIB:.1f} MiB "
               f"{outcome.seconds}s {outcome.detail}")
    assert outcome.passed and outcome.status == "successful" and outcome.rc == 0, summary
    assert outcome.detail == "Succeeded: Finished", summary
    assert outcome.stdout_bytes > 10 * small_logs, summary
    assert outcome.events > items and continuous(outcome.counters), (
        summary, [c for i, c in enumerate(outcome.counters, 1) if c != i][:10])
    assert watch.rotated, f"the kubelet rotated no log of the job's pod: {summary}"
    print(summary, f"{len(watch.rotated)} rotations")


def test_twenty_jobs_at_once_all_succeed_and_leave_nothing(kube_node, cluster, scale_namespace):
    """About 7 pods of 250m fit on the 2-core node: the others wait Pending, within the pending
    timeout; the whole batch is bounded, and releasing each job deletes its pod."""
    jobs, bound = 20, 300
    tgt = target(kube_node, cluster, pending_timeout="4m")
    ping = verify.SUITES["smoke"][0]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(verify.run_job, tgt, ping, verify.CONTAINER_GROUP, 900_000 + i) for i in range(jobs)]
        done, hanging = wait(futures, timeout=bound)
        if hanging:
            kube_node.stop()  # ends the hanging jobs' result streams, so the pool can shut down
        assert not hanging, f"{len(hanging)} of {jobs} jobs still running after {bound}s"
        outcomes = [future.result() for future in futures]
    took = time.monotonic() - started
    failed = [o for o in outcomes if not (o.passed and o.detail == "Succeeded: Finished" and continuous(o.counters))]
    assert not failed, failed
    assert len({o.unit for o in outcomes}) == jobs
    assert json.loads(receptorctl(kube_node.socket, "work", "list").stdout) == {}
    deadline = time.monotonic() + 90
    while (left := job_pods(cluster)) and time.monotonic() < deadline:
        time.sleep(1)
    assert not left, f"pods left after release: {left}"
    print(f"{jobs} concurrent jobs in {took:.1f}s; slowest {max(o.seconds for o in outcomes)}s")
