"""The log stream of a ``work-kubernetes`` unit cut by an idle timeout, as Azure's load balancer
cuts AKS log streams (awx#12530): the receptor node (the stand-in, or a real receptor named by
EE_RECEPTOR) talks to the local API server through tests/harness/proxy.py, which cuts any
connection idle for a few seconds. Driven by the REAL receptorctl. The AWX job with and without
keepalive behind the same cut is in test_verify.py."""
from __future__ import annotations

import re
import time

import pytest
import yaml

from tests.harness.proxy import IdleCuttingProxy
from tests.harness.receptor import node as receptor
from tests.helpers import awx_pod, receptorctl, through_proxy, wait_gone
from tests.integration.test_receptor_node import submit, wait_for_state

IDLE = 3  # seconds of silence the proxy allows


@pytest.fixture
def proxy(cluster):
    with IdleCuttingProxy(("127.0.0.1", 6443), idle=IDLE) as cutting:
        yield cutting


@pytest.fixture
def cut_kubeconfig(cluster, proxy) -> str:
    """The cluster's kubeconfig with its server behind the cutting proxy."""
    return through_proxy(cluster.kubeconfig.read_text(), proxy.port)


def run_shell(node, image: str, kubeconfig: str, script: str, name: str, **container) -> dict:
    """A pod whose worker runs ``script`` (no payload, so no attach); its final work status."""
    pod = yaml.safe_load(awx_pod(image, name=name, **container))
    pod["spec"]["containers"][0].update(command=["sh", "-c", script])
    pod["spec"]["containers"][0].pop("args")
    unit = submit(node.socket, "kubernetes-runtime-auth", "--no-payload",
                  "-a", f"secret_kube_pod={yaml.dump(pod, explicit_start=True)}",
                  "-a", f"secret_kube_config={kubeconfig}", "-a", "pod_pending_timeout=1m")
    status = wait_for_state(node.socket, unit, {2, 3, 4}, timeout=180)
    status["unit"] = unit
    return status


def results(node, unit: str) -> str:
    return receptorctl(node.socket, "work", "results", unit).stdout


def test_cut_stream_resumes_from_the_last_timestamp_without_loss_or_duplicates(kube_node, ee_in_cluster,
                                                                              cut_kubeconfig, proxy, cluster):
    # Five lines within one second, then silence past the cut: the reopened stream starts at the
    # second of the last line (sinceTime has seconds precision), so all five come again and must be
    # skipped by their full timestamps.
    script = ("for i in 1 2 3 4 5; do echo line-$i; done; sleep 8; "
              "for i in 6 7 8 9 10; do echo line-$i; done; sleep 8; echo line-11")
    status = run_shell(kube_node, ee_in_cluster, cut_kubeconfig, script, "resume")
    assert (status["StateName"], status["Detail"]) == ("Succeeded", "Finished"), status
    assert results(kube_node, status["unit"]).split() == [f"line-{i}" for i in range(1, 12)]
    assert proxy.cuts >= 2
    log = kube_node.log.read_text()
    assert re.search(r"Detected Error: unexpected EOF for pod default/resume-\w+\. Will retry 5 more times\.", log)
    receptorctl(kube_node.socket, "work", "release", status["unit"])
    assert wait_gone(cluster, status["ExtraData"]["PodName"])


def test_silent_job_runs_out_of_retries_that_are_not_reset_between_cuts(kube_node, ee_in_cluster, cut_kubeconfig,
                                                                        proxy):
    started = time.monotonic()
    status = run_shell(kube_node, ee_in_cluster, cut_kubeconfig, "echo started; sleep 60; echo never-seen", "silent")
    assert (status["StateName"], status["Detail"]) == ("Failed", "Error with pod's stdout: unexpected EOF"), status
    assert time.monotonic() - started < 60  # failed while the job was still silent
    assert results(kube_node, status["unit"]).split()[:1] == ["started"]
    assert proxy.cuts >= 5
    log = kube_node.log.read_text()
    countdown = [int(n) for n in re.findall(r"Detected Error: unexpected EOF for pod default/silent-\w+\. "
                                            r"Will retry (\d) more times\.", log)]
    assert countdown == [5, 4, 3, 2, 1], log
    assert re.search(r"Error reading from pod default/silent-\w+: unexpected EOF", log)
    receptorctl(kube_node.socket, "work", "release", status["unit"])


def test_oom_killed_worker_fails_the_unit(kube_node, ee_in_cluster, cluster):
    if not receptor.is_stand_in():
        pytest.skip("newer receptor behaviour (PR #1444); v1.4.x marks the unit Succeeded")
    status = run_shell(kube_node, ee_in_cluster, cluster.kubeconfig.read_text(),
                       "echo before; sleep 8; exec python3 -c 'x = bytearray(512 * 1024 * 1024); print(len(x))'", "oom",
                       resources={"limits": {"memory": "64Mi"}, "requests": {"memory": "64Mi"}})
    assert status["StateName"] == "Failed", status
    assert status["Detail"] == "Error with pod's stdout: container worker terminated: reason OOMKilled, exit code 137"
    assert results(kube_node, status["unit"]).split() == ["before"]
    receptorctl(kube_node.socket, "work", "release", status["unit"])
