"""``work-kubernetes`` units on a receptor node (the stand-in, or a real receptor named by
EE_RECEPTOR), against the local Kubernetes, driven by the REAL receptorctl 1.6.9: AWX's
container-group flow with the EE image from `make build`, and receptor's refusals."""
from __future__ import annotations

import json
import time


from tests.harness.receptor import node as receptor
from tests.helpers import awx_pod, pods, receptorctl, receptorctl_python, wait_gone
from tests.integration.test_receptor_node import AWX_FLOW, submit, unit_status, wait_for_state

def test_awx_container_group_flow(kube_node, cluster, ee_in_cluster, tmp_path):
    private = tmp_path / "private"
    (private / "project").mkdir(parents=True)
    (private / "project" / "site.yml").write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - debug: {msg: hello from the container group}\n")
    # AWX's container-group params (awx/main/tasks/receptor.py), through test_receptor_node's AWX flow.
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"secret_kube_pod": awx_pod(ee_in_cluster),
                                  "secret_kube_config": cluster.kubeconfig.read_text(),
                                  "pod_pending_timeout": "2m"}))
    result = receptorctl_python(AWX_FLOW, str(kube_node.socket), "kubernetes-runtime-auth", str(private),
                                str(params))
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["status"] == "successful", outcome
    assert any("hello from the container group" in line for line in outcome["stdout"]), outcome["stdout"]
    assert (outcome["state"]["StateName"], outcome["state"]["Detail"]) == ("Succeeded", "Finished")
    extra = outcome["state"]["ExtraData"]
    pod_name = extra["PodName"]
    assert pod_name.startswith("automation-job-42-") and extra["KubeNamespace"] == "default"
    assert extra["KubeConfig"] == "" and extra["KubePod"] == ""  # secrets blanked in work status

    # The pod is there until the unit is released; releasing deletes it.
    assert pod_name in pods(cluster, "automation-job-42-")
    spec = json.loads(cluster.kubectl("get", "pod", pod_name, "-o", "json").stdout)["spec"]
    worker = spec["containers"][0]
    assert (spec["restartPolicy"], worker["stdin"], worker["stdinOnce"]) == ("Never", True, True)
    released = receptorctl(kube_node.socket, "work", "release", outcome["unit"])
    assert released.returncode == 0, released.stderr
    assert wait_gone(cluster, pod_name)


def test_pod_without_a_worker_container_is_refused(kube_node, cluster):
    unit = submit(kube_node.socket, "kubernetes-runtime-auth", "--no-payload",
                  "-a", f"secret_kube_pod={awx_pod('localhost/none:1', name='noworker', container='main')}",
                  "-a", f"secret_kube_config={cluster.kubeconfig.read_text()}")
    status = wait_for_state(kube_node.socket, unit, {2, 3, 4})
    assert (status["StateName"], status["Detail"]) == ("Failed", "Error creating pod: at least one container must "
                                                                 "be named worker")
    assert pods(cluster, "noworker-") == []


def test_unpullable_image_fails_within_the_pending_timeout(kube_node, cluster):
    """imagePullPolicy Never and an image the node lacks: ErrImageNeverPull, which receptor does not
    detect, so the unit fails at pod_pending_timeout, naming the reason; the pod is deleted."""
    started = time.monotonic()
    unit = submit(kube_node.socket, "kubernetes-runtime-auth", "--payload-literal", "{}",
                  "-a", f"secret_kube_pod={awx_pod('localhost/ee-test-absent:never', name='unpullable')}",
                  "-a", f"secret_kube_config={cluster.kubeconfig.read_text()}", "-a", "pod_pending_timeout=15s")
    status = wait_for_state(kube_node.socket, unit, {2, 3, 4}, timeout=90)
    assert (status["StateName"], status["Detail"]) == (
        "Failed", "Error creating pod: timed out waiting for the condition, ErrImageNeverPull"), status
    assert 15 <= time.monotonic() - started < 60
    assert wait_gone(cluster, status["ExtraData"]["PodName"])
    assert unit_status(kube_node.socket, unit)["State"] == 3


def test_params_refused_as_receptor_refuses_them(kube_node, cluster):
    def refusal(worktype: str, *args: str) -> str:
        result = receptorctl(kube_node.socket, "work", "submit", worktype, "--no-payload", *args)
        assert result.returncode != 0, result.stdout
        return result.stderr

    assert "param secret_kube_config must be provided if AuthMethod=runtime" in refusal(
        "kubernetes-runtime-auth", "-a", f"secret_kube_pod={awx_pod('x:1')}")
    assert "kube_image provided but not allowed" in refusal(
        "kubernetes-runtime-auth", "-a", "kube_image=x:1", "-a", f"secret_kube_config={cluster.kubeconfig.read_text()}")
    if receptor.is_stand_in():  # the stand-in answers with client-go's text; unverified on a real one
        assert "unable to load in-cluster configuration" in refusal("kubernetes-incluster-auth",
                                                                    "-a", f"secret_kube_pod={awx_pod('x:1')}")
