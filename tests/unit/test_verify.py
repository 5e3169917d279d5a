"""What `ee-builder verify` submits, as AWX would (builder/verify.py's pure parts). The jobs
themselves run in tests/integration/test_verify.py."""
from __future__ import annotations

import pytest
import yaml

from builder import awx, verify
from builder.errors import UserError

IMAGE = "registry.test/ee@sha256:" + "c" * 64


def target(**changes) -> verify.Target:
    fields = {"control": "/run/receptor.sock", "image": IMAGE, "kubeconfig": "apiVersion: v1\n",
              "override": awx.container_group_pod_spec(IMAGE, "jobs", "krb5")}
    return verify.Target(**{**fields, **changes})


def test_container_group_params_carry_awx_s_pod_and_the_kubeconfig():
    params = verify.receptor_params(target(keepalive_seconds=30, pull="always"), verify.CONTAINER_GROUP, 7, "/x")
    assert set(params) == {"secret_kube_pod", "secret_kube_config", "pod_pending_timeout"}
    assert params["secret_kube_pod"].startswith("---\n")  # yaml.dump(explicit_start=True), as AWX dumps it
    pod = yaml.safe_load(params["secret_kube_pod"])
    worker = pod["spec"]["containers"][0]
    assert (pod["metadata"]["name"], pod["metadata"]["namespace"]) == ("automation-job-7", "jobs")
    assert (worker["image"], worker["imagePullPolicy"]) == (IMAGE, "Always")
    assert worker["env"] == [{"name": "ANSIBLE_RUNNER_KEEPALIVE_SECONDS", "value": "30"}]
    assert worker["volumeMounts"][0]["mountPath"] == "/etc/krb5.conf"
    assert verify.runner_kwargs(target(), verify.CONTAINER_GROUP) == {}


def test_instance_group_asks_the_node_for_podman_with_the_image_and_the_isolation_paths():
    t = target(isolation_paths=("/etc/krb5.conf:/etc/krb5.conf:ro", "/srv/data:/data", "/opt/x"),
               run_options=("--ulimit=nofile=4096:4096",), pull="never")
    assert verify.receptor_params(t, verify.INSTANCE_GROUP, 7, "/tmp/node") == \
        {"params": "--private-data-dir=/tmp/node --delete"}
    assert verify.runner_kwargs(t, verify.INSTANCE_GROUP) == {
        "process_isolation": True, "process_isolation_executable": "podman", "container_image": IMAGE,
        "container_options": ["--user=root", "--ulimit=nofile=4096:4096", "--pull=never"],
        "container_volume_mounts": ["/etc/krb5.conf:/etc/krb5.conf:ro", "/srv/data:/data:z", "/opt/x:/opt/x:z"]}


def test_the_silent_job_is_silent_for_the_time_asked():
    play = yaml.safe_load(verify.silent_job(300).playbook)
    assert play[0]["tasks"][1] == {"ansible.builtin.pause": {"seconds": 300}}
    assert yaml.safe_load(verify.SUITES["failure"][0].playbook)[0]["tasks"][1]["ansible.builtin.fail"]


def test_a_container_group_without_a_kubeconfig_is_a_user_error():
    with pytest.raises(UserError, match="needs a kubeconfig"):
        verify.receptor_params(target(kubeconfig=None), verify.CONTAINER_GROUP, 1, "/x")


def test_jobs_are_every_suite_but_a_silence_runs_alone_unless_suites_are_named():
    assert [j.name for j in verify.jobs((), None)] == ["failing playbook", "ping", "command", "facts"]
    assert [j.name for j in verify.jobs((), 300)] == ["silent 300s"]
    assert [j.name for j in verify.jobs(("smoke", "windows"), 30)] == ["ping", "command", "facts", "silent 30s"]
