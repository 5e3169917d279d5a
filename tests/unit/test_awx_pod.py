"""AWX's container-group job pod (builder/awx_pod.py) and what `awx objects` does with it. The
API server's verdict on the same pods is in tests/integration/test_awx_objects.py."""
from __future__ import annotations

import yaml

from builder import awx, awx_pod
from tests.helpers import KERBEROS_SETTINGS, ROOT, ee_builder, project_with

IMAGE = "registry.test/ee@sha256:" + "b" * 64


def test_deepmerge_merges_mappings_replaces_lists_and_keeps_defaults_under_null():
    default = {"spec": {"containers": [{"name": "worker", "image": "a"}], "serviceAccountName": "default"}}
    override = {"spec": {"containers": [{"name": "worker", "env": []}], "serviceAccountName": None,
                         "hostAliases": [{"ip": "10.0.0.5"}]}}
    assert awx_pod.deepmerge(default, override) == {
        "spec": {"containers": [{"name": "worker", "env": []}], "serviceAccountName": "default",
                 "hostAliases": [{"ip": "10.0.0.5"}]}}
    assert default["spec"]["containers"] == [{"name": "worker", "image": "a"}]  # inputs untouched


def test_awx_forces_image_args_pull_policy_and_names_the_pod():
    override = {"metadata": {"namespace": "jobs"},
                "spec": {"containers": [{"name": "worker", "image": "other:1", "args": ["sleep", "1"]}]}}
    pod = awx_pod.job_pod(override, awx_pod.AwxJob(image=IMAGE, pull="never", job_id=42, install_uuid="u-1"))
    [worker] = pod["spec"]["containers"]
    assert (worker["image"], worker["args"], worker["imagePullPolicy"]) == (IMAGE, awx_pod.WORKER_ARGS, "Never")
    assert "resources" not in worker  # the override's list replaced the default container whole
    assert pod["metadata"] == {"namespace": "jobs", "name": "automation-job-42",
                               "labels": {"ansible-awx": "u-1", "ansible-awx-job-id": "42"}}
    assert pod["spec"]["serviceAccountName"] == "default"


def test_keepalive_appended_and_pull_secret_replaced_as_awx_does():
    override = {"spec": {"containers": [{"name": "worker", "env": [{"name": "A", "value": "1"}]}],
                         "imagePullSecrets": [{"name": "ours"}]}}
    job = awx_pod.AwxJob(image=IMAGE, keepalive_seconds=30, ee_credential=True, job_id=3)
    pod = awx_pod.job_pod(override, job)
    assert pod["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"},
                                                   {"name": "ANSIBLE_RUNNER_KEEPALIVE_SECONDS", "value": "30"}]
    assert pod["spec"]["imagePullSecrets"] == [{"name": "automation-3-image-pull-secret-1"}]
    assert awx_pod.problems(override, job) == [
        "imagePullSecrets ['ours'] is replaced by AWX's own secret (automation-3-image-pull-secret-1), because the "
        "execution environment has a registry credential"]


def test_isolation_paths_become_host_path_mounts_only_when_mounted_on_k8s():
    paths = ("/srv/a", "/srv/b:/data", "/etc/krb5.conf:/etc/krb5.conf:ro")
    off = awx_pod.job_pod({}, awx_pod.AwxJob(image=IMAGE, isolation_show_paths=paths))
    assert "volumes" not in off["spec"]
    on = awx_pod.job_pod({}, awx_pod.AwxJob(image=IMAGE, isolation_show_paths=paths, mount_isolated_paths_on_k8s=True))
    assert on["spec"]["volumes"] == [{"name": f"volume-{i}", "hostPath": {"path": p}}
                                     for i, p in enumerate(("/srv/a", "/srv/b", "/etc/krb5.conf"))]
    assert on["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "volume-0", "mountPath": "/srv/a", "readOnly": False},
        {"name": "volume-1", "mountPath": "/data", "readOnly": False},
        {"name": "volume-2", "mountPath": "/etc/krb5.conf", "readOnly": True}]


def test_generated_override_has_no_problem_in_any_combination_but_isolation_on_k8s():
    override = awx.container_group_pod_spec(IMAGE, "jobs", "krb5", None, {"10.0.0.5": ["dc1.corp.test"]})
    show = tuple(awx.isolation_paths()["AWX_ISOLATION_SHOW_PATHS"])
    for credential in (False, True):
        for keepalive in (0, 240):
            job = awx_pod.AwxJob(image=IMAGE, ee_credential=credential, keepalive_seconds=keepalive,
                                 isolation_show_paths=show)
            assert awx_pod.problems(override, job) == []
            on_k8s = awx_pod.problems(override, awx_pod.AwxJob(image=IMAGE, ee_credential=credential,
                                                               keepalive_seconds=keepalive, isolation_show_paths=show,
                                                               mount_isolated_paths_on_k8s=True))
            assert on_k8s == ['container worker: mountPath "/etc/krb5.conf" is mounted 2 times (the API server '
                              'refuses the pod: "must be unique")']


def awx_settings(extra: str) -> str:
    return f"definition: {ROOT / 'execution-environment.yml'}\n{KERBEROS_SETTINGS}awx:\n{extra}"


def test_objects_refused_when_awx_mounts_isolated_paths_on_k8s(tmp_path):
    project = project_with(tmp_path, awx_settings("  mount_isolated_paths_on_k8s: true\n"))
    result = ee_builder("awx", "objects", "--image", IMAGE, "-o", str(tmp_path / "out"), cwd=project)
    assert result.returncode == 2, result.stdout
    assert 'mountPath "/etc/krb5.conf" is mounted 2 times' in result.stderr
    assert "Expected AWX_MOUNT_ISOLATED_PATHS_ON_K8S off" in result.stderr
    assert not (tmp_path / "out").exists() and "Traceback" not in result.stderr


def test_pull_secret_and_registry_credential_together_are_refused(tmp_path):
    project = project_with(tmp_path, awx_settings("  execution_environment: {registry_credential: reg}\n"
                                                  "  container_group: {image_pull_secret: pull}\n"))
    result = ee_builder("awx", "objects", "--image", IMAGE, "-o", str(tmp_path / "out"), cwd=project)
    assert result.returncode == 2
    assert "awx.container_group.image_pull_secret: is set, and so is awx.execution_environment.registry_credential" \
        in result.stderr and "Expected one of the two" in result.stderr


def test_a_tag_for_awx_gets_a_warning_a_digest_none(tmp_path):
    project = project_with(tmp_path, awx_settings("  container_group: {name: jobs}\n"))
    tagged = ee_builder("awx", "objects", "--image", "registry.test/ee:1.0", "-o", str(tmp_path / "t"), cwd=project)
    assert tagged.returncode == 0, tagged.stderr
    assert "warning: --image registry.test/ee:1.0 is a tag, not a digest" in tagged.stderr
    pod = yaml.safe_load((tmp_path / "t" / "container-group-pod-spec.yml").read_text())
    assert pod["spec"]["containers"][0]["image"] == "registry.test/ee:1.0"
    digest = ee_builder("awx", "objects", "--image", IMAGE, "-o", str(tmp_path / "d"), cwd=project)
    assert digest.returncode == 0 and "warning" not in digest.stderr
