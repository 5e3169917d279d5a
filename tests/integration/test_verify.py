"""`ee-builder verify` against the image from `make build`: jobs through receptor (the stand-in, or
a real one by EE_RECEPTOR) in both of AWX's paths on the local cluster and this host's Podman, and
the AKS failure through tests/harness/proxy.py (connections idle for a few seconds are cut)."""
from __future__ import annotations

import json

import pytest
import yaml

from tests.harness.proxy import IdleCuttingProxy
from tests.helpers import IMAGE, ee_builder, project_settings, project_with, receptorctl, through_proxy

# This host's hard limits are below Podman's defaults (as DEFAULT_CONTAINER_RUN_OPTIONS would fix on a node).
RUN_OPTIONS = ["--run-option=--ulimit=nofile=4096:4096", "--run-option=--ulimit=nproc=4096:4096"]
NAMESPACE = "ee-verify"


@pytest.fixture(scope="module")
def jobs_namespace(cluster, ee_in_cluster, tmp_path_factory):
    """The namespace with the krb5 ConfigMap `awx objects` writes (the override mounts it)."""
    out = tmp_path_factory.mktemp("awx")
    project = project_with(tmp_path_factory.mktemp("project"), project_settings("localhost/awx-ee-kerberos"))
    result = ee_builder("awx", "objects", "--image", IMAGE, "-o", str(out), cwd=project)
    assert result.returncode == 0, result.stderr
    configmap = yaml.safe_load((out / "krb5-configmap.yml").read_text())
    configmap["metadata"]["namespace"] = NAMESPACE
    if cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", NAMESPACE)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(configmap))
    return NAMESPACE






def verify(project, verify_node, kubeconfig, *args: str):
    report = project / "report.json"
    result = ee_builder("verify", IMAGE, "--receptor-socket", str(verify_node.socket), "--kubeconfig", str(kubeconfig),
                        "--namespace", NAMESPACE, "--report", str(report), *RUN_OPTIONS, *args, cwd=project,
                        env={"COLUMNS": "200"})
    return result, (json.loads(report.read_text()) if report.exists() else None)


def test_smoke_and_failure_suites_in_both_paths(tmp_path, verify_node, cluster, jobs_namespace, in_podman):
    project = project_with(tmp_path / "p", project_settings("localhost/awx-ee-kerberos"))
    result, report = verify(project, verify_node, cluster.kubeconfig)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {(job["job"], job["path"]): job for job in report["jobs"]}
    assert set(jobs) == {(name, path) for name in ("ping", "command", "facts", "failing playbook")
                         for path in ("container-group", "instance-group")}
    for (name, path), job in jobs.items():
        assert job["passed"] and job["events"] >= 6, job
        assert job["rc"] == (2 if name == "failing playbook" else 0), job
    assert jobs[("ping", "container-group")]["detail"] == "Succeeded: Finished"
    assert "verify: localhost/awx-ee-kerberos:latest" in result.stdout and "8 jobs as expected" in result.stdout
    # Released: no unit left on the node, and the pods are going.
    assert json.loads(receptorctl(verify_node.socket, "work", "list").stdout) == {}


def test_silent_job_behind_an_idle_cut_fails_without_keepalive_and_passes_with_it(tmp_path, verify_node, cluster,
                                                                                  jobs_namespace):
    """The AKS failure: the job's kubeconfig goes through a proxy that cuts connections idle for 3 s;
    a task silent for 8 cuts' worth fails with receptor's log-stream Detail unless AWX's
    AWX_RUNNER_KEEPALIVE_SECONDS (awx.container_group.keepalive_seconds) is below the cut."""
    with IdleCuttingProxy(("127.0.0.1", 6443), idle=3) as proxy:
        kubeconfig = tmp_path / "cut.kubeconfig"
        kubeconfig.write_text(through_proxy(cluster.kubeconfig.read_text(), proxy.port))
        outcomes = {}
        for keepalive in (0, 1):
            settings = project_settings("localhost/awx-ee-kerberos").replace(
                "keepalive_seconds: 240", f"keepalive_seconds: {keepalive}")
            assert f"keepalive_seconds: {keepalive}" in settings
            project = project_with(tmp_path / f"keepalive-{keepalive}", settings)
            result, report = verify(project, verify_node, kubeconfig, "--path", "container-group", "--silence", "24")
            outcomes[keepalive] = (result, {job["job"]: job for job in report["jobs"]})
    failed, jobs = outcomes[0]
    assert failed.returncode == 1, failed.stdout + failed.stderr
    silent = jobs["silent 24s"]
    assert not silent["passed"] and silent["detail"].startswith("Failed: Error with pod's stdout: unexpected EOF")
    assert "1 of 1 jobs not as expected" in failed.stdout
    passed, jobs = outcomes[1]
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert jobs["silent 24s"]["passed"] and jobs["silent 24s"]["detail"] == "Succeeded: Finished"


@pytest.mark.soak
def test_soak_ten_minutes_of_silence_kept_alive_behind_an_idle_cut(tmp_path, verify_node, cluster, jobs_namespace):
    """`make verify-soak`: 600 s without output behind a 15 s idle cut; the keepalive (5 s) carries it."""
    with IdleCuttingProxy(("127.0.0.1", 6443), idle=15) as proxy:
        kubeconfig = tmp_path / "cut.kubeconfig"
        kubeconfig.write_text(through_proxy(cluster.kubeconfig.read_text(), proxy.port))
        settings = project_settings("localhost/awx-ee-kerberos").replace("keepalive_seconds: 240",
                                                                          "keepalive_seconds: 5")
        project = project_with(tmp_path / "p", settings)
        result, report = verify(project, verify_node, kubeconfig, "--path", "container-group", "--silence", "600")
    silent = {job["job"]: job for job in report["jobs"]}["silent 600s"]
    assert result.returncode == 0 and silent["passed"], result.stdout + result.stderr
    assert silent["seconds"] >= 600 and silent["detail"] == "Succeeded: Finished"
    assert "unexpected EOF" not in verify_node.log.read_text()  # the log stream was never cut


def test_without_a_receptor_verify_says_where_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    project = project_with(tmp_path, project_settings("localhost/ee-test-never-built"))
    result = ee_builder("verify", "--path", "instance-group", cwd=project)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no receptor binary found: ee-builder needs one on this host to run the jobs" in result.stderr
