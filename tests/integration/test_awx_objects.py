"""The AWX objects for the published image: the pod AWX makes of the override (builder/awx_pod.py)
passes the API server's server-side dry run in every combination AWX allows, and runs a job
through receptor (the stand-in, or EE_RECEPTOR) as AWX's container-group flow does; the awx.awx
playbook passes ansible-playbook's syntax check with the real collections (awx.awx and
kubernetes.core, cut from the ansible package on PyPI)."""
from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import yaml

from builder import awx, awx_pod, collection_sources
from builder.progress import Silent
from builder.settings import Collections
from tests.helpers import ROOT, ee_builder, project_settings, project_with, receptorctl, receptorctl_python
from tests.integration.test_receptor_node import AWX_FLOW

IMAGE = "10.254.254.1:5443/ee/awx-ee-kerberos@sha256:" + "0" * 64


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    out = tmp_path_factory.mktemp("awx")
    result = ee_builder("awx", "objects", "--image", IMAGE, "-o", str(out), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    out.chmod(0o755)  # the image runs as UID 1000
    return out


def dry_run(cluster, manifest: dict) -> subprocess.CompletedProcess:
    namespace = manifest["metadata"]["namespace"]
    if cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", namespace)
    # apply, not create: the ConfigMap may be there already (the job test applies it).
    return cluster.kubectl("apply", "--dry-run=server", "-o", "yaml", "-f", "-", input=yaml.safe_dump(manifest),
                           check=False)


def test_configmap_passes_server_side_dry_run(cluster, objects):
    result = dry_run(cluster, yaml.safe_load((objects / "krb5-configmap.yml").read_text()))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("credential", [False, True], ids=["no-credential", "ee-credential"])
@pytest.mark.parametrize("keepalive", [0, 240], ids=["keepalive-off", "keepalive-240"])
@pytest.mark.parametrize("on_k8s", [False, True], ids=["isolation-off-k8s", "isolation-on-k8s"])
def test_awx_job_pod_in_every_combination_awx_allows(cluster, objects, credential, keepalive, on_k8s):
    """AWX's pod from the generated override; the API server agrees with awx_pod.problems: the
    only refusal is the isolation paths' /etc/krb5.conf over the ConfigMap's, and no warning."""
    override = yaml.safe_load((objects / "container-group-pod-spec.yml").read_text())
    job = awx_pod.AwxJob(image=IMAGE, ee_credential=credential, keepalive_seconds=keepalive, job_id=7,
                         isolation_show_paths=tuple(awx.isolation_paths()["AWX_ISOLATION_SHOW_PATHS"]),
                         mount_isolated_paths_on_k8s=on_k8s)
    pod = awx_pod.job_pod(override, job)
    found = awx_pod.problems(override, job)
    result = dry_run(cluster, pod)
    if on_k8s:
        assert result.returncode != 0 and 'mountPath: Invalid value: "/etc/krb5.conf": must be unique' in \
            result.stderr, result.stderr
        assert found and '"/etc/krb5.conf" is mounted 2 times' in found[0]
    else:
        assert result.returncode == 0, result.stderr
        assert "Warning" not in result.stderr and found == []
        created = yaml.safe_load(result.stdout)
        assert created["metadata"]["name"] == "automation-job-7"
        env = created["spec"]["containers"][0].get("env", [])
        assert env == ([{"name": "ANSIBLE_RUNNER_KEEPALIVE_SECONDS", "value": "240"}] if keepalive else [])


def test_keepalive_in_the_override_too_is_the_duplicate_awx_users_saw(cluster, objects):
    """The override as ee-builder wrote it before: the env AWX appends its own to."""
    override = yaml.safe_load((objects / "container-group-pod-spec.yml").read_text())
    override["spec"]["containers"][0]["env"] = [{"name": "ANSIBLE_RUNNER_KEEPALIVE_SECONDS", "value": "240"}]
    job = awx_pod.AwxJob(image=IMAGE, keepalive_seconds=30)
    result = dry_run(cluster, awx_pod.job_pod(override, job))
    assert result.returncode == 0 and 'hides previous definition of "ANSIBLE_RUNNER_KEEPALIVE_SECONDS"' in \
        result.stderr, result.stderr
    assert awx_pod.problems(override, job) == ["container worker: env ANSIBLE_RUNNER_KEEPALIVE_SECONDS is set 2 times "
                                               "(the API server warns, and the last value wins)"]


def test_awx_objects_for_the_image_built_here_when_nothing_is_published(tmp_path):
    project = project_with(tmp_path, project_settings("localhost/awx-ee-kerberos"))
    result = ee_builder("awx", "objects", "-o", str(tmp_path / "out"), cwd=project)
    assert result.returncode == 0, result.stderr
    assert "warning: nothing published for this project" in result.stderr
    assert "localhost/awx-ee-kerberos:latest, which AWX cannot pull" in result.stderr
    pod = yaml.safe_load((tmp_path / "out" / "container-group-pod-spec.yml").read_text())
    assert pod["spec"]["containers"][0]["image"] == "localhost/awx-ee-kerberos:latest"

    missing = project_with(tmp_path / "other", project_settings("localhost/ee-test-never-built"))
    refused = ee_builder("awx", "objects", "-o", str(tmp_path / "none"), cwd=missing)
    assert refused.returncode == 2 and "no image localhost/ee-test-never-built:latest built here" in refused.stderr
    assert not (tmp_path / "none").exists()


@pytest.fixture(scope="module")
def awx_collections() -> dict[str, str]:
    """awx.awx and kubernetes.core, cut from the ansible package on PyPI: host tarball -> mount path."""
    _, artifacts = collection_sources.resolve(Collections(source="pypi"),
                                              {"collections": [{"name": "awx.awx"}, {"name": "kubernetes.core"}]},
                                              Silent())
    return {str(a.path): f"/runner/collections/{a.path.name}" for a in artifacts}


def ansible_in_image(engine, built, awx_collections, awx_dir, script: str,
                     environment: dict[str, str] | None = None) -> tuple[int, str]:
    """``script`` in the built image with the collections installed and ``awx_dir`` at /runner/awx.
    No network (Engine.run's default): only the container's own loopback answers."""
    install = ("ansible-galaxy collection install --offline -p /tmp/collections /runner/collections/*.tar.gz"
               " >/dev/null")
    return engine.run(built.image, ["bash", "-c", f"{install} && {script}"],
                      mounts={str(awx_dir): "/runner/awx", **awx_collections},
                      environment={"HOME": "/tmp", "ANSIBLE_COLLECTIONS_PATH": "/tmp/collections", **(environment or {})})


def test_awx_playbook_passes_syntax_check_with_the_real_collections(engine, built, objects, awx_collections):
    rc, output = ansible_in_image(engine, built, awx_collections, objects,
                                  "ansible-playbook --syntax-check /runner/awx/awx-objects.yml")
    assert rc == 0, output
    assert "playbook: /runner/awx/awx-objects.yml" in output


def pwn(name: str) -> str:
    return f"{{{{ lookup('pipe', 'touch /tmp/pwned-{name}') }}}}"


def test_templates_in_settings_are_never_evaluated_when_the_playbook_runs(engine, built, awx_collections, tmp_path):
    """The playbook really runs (awx.awx against a closed port on the container's loopback, so
    each task templates its arguments and then fails to connect): text from settings carrying a
    lookup creates no file. The same playbook without its !unsafe tags does: the test can fail."""
    settings = yaml.safe_load(project_settings("localhost/awx-ee-kerberos"))
    settings["awx"]["execution_environment"]["name"] = f"AWX EE {pwn('ee')}"
    settings["awx"]["container_group"]["name"] = f"kerberos-jobs {pwn('group')}"
    project = project_with(tmp_path / "project", yaml.safe_dump(settings, sort_keys=False))
    out = tmp_path / "awx"
    result = ee_builder("awx", "objects", "--image", IMAGE, "-o", str(out), cwd=project)
    assert result.returncode == 0, result.stderr
    templated = (out / "awx-objects.yml").read_text().replace("!unsafe ", "")
    [play] = yaml.safe_load(templated)
    assert [args["name"] for task in play["tasks"] for module, args in task.items()
            if module in ("awx.awx.execution_environment", "awx.awx.instance_group")] == \
        [settings["awx"]["execution_environment"]["name"], settings["awx"]["container_group"]["name"]]
    (out / "templated.yml").write_text(templated)
    out.chmod(0o755)  # the image runs as UID 1000

    def run(playbook: str) -> tuple[str, str]:
        tasks = ("Execution environment", "Container group")
        script = "".join(f"ansible-playbook /runner/awx/{playbook} --start-at-task '{task}'; " for task in tasks)
        _, output = ansible_in_image(engine, built, awx_collections, out, script + "echo markers: $(ls /tmp | grep pwned-)",
                                     environment={"CONTROLLER_HOST": "https://127.0.0.1:9"})
        for task in tasks:  # each task ran, and failed only for want of a controller
            assert f"TASK [{task}]" in output, output[-3000:]
        assert output.count("https://127.0.0.1:9/api/v2/") >= len(tasks), output[-3000:]
        assert output.count("Connection refused") >= len(tasks), output[-3000:]
        return output.rsplit("markers:", 1)[1].split(), output

    markers, output = run("awx-objects.yml")
    assert markers == [], output[-3000:]
    # The names reached the modules as written (URL-encoded in the query the module tried to send).
    assert "?name=AWX+EE+%7B%7B+lookup" in output and "?name=kerberos-jobs+%7B%7B+lookup" in output, output[-3000:]
    markers, output = run("templated.yml")
    assert markers == ["pwned-ee", "pwned-group"], output[-3000:]


def test_container_group_job_through_receptor_in_awx_s_pod(cluster, built, objects, kube_node, tmp_path):
    """AWX's container-group flow end to end: the pod AWX makes of the generated override (its pull
    secret from the EE's credential, keepalive from its setting), the published image, the krb5
    ConfigMap; ansible-runner transmit -> receptor work-kubernetes -> process, as AWXReceptorJob."""
    image = cluster.push(built.image, "ee/awx-ee-kerberos:pod-job")
    override = yaml.safe_load((objects / "container-group-pod-spec.yml").read_text())
    job = awx_pod.AwxJob(image=image, pull="always", ee_credential=True, keepalive_seconds=240,
                         job_id=int(uuid.uuid4().int % 100000))
    pod = awx_pod.job_pod(override, job)
    namespace = pod["metadata"]["namespace"]
    if cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", namespace)
    cluster.pull_secret(job.pull_secret, namespace)  # what AWX creates from the EE's registry credential
    configmap = yaml.safe_load((objects / "krb5-configmap.yml").read_text())
    marker = "# from the ConfigMap " + uuid.uuid4().hex[:8]  # the baked file has the same realm: tell them apart
    configmap["data"]["krb5.conf"] = marker + "\n" + configmap["data"]["krb5.conf"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(configmap))

    private = tmp_path / "private"
    for directory in ("project", "inventory", "env"):
        (private / directory).mkdir(parents=True)
    (private / "project" / "site.yml").write_text(PLAYBOOK)
    (private / "inventory" / "hosts").write_text("localhost ansible_connection=local\n")
    (private / "env" / "extravars").write_text("greeting: hello\n")  # as AWX passes extra vars
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"secret_kube_pod": yaml.dump(pod, explicit_start=True),
                                  "secret_kube_config": cluster.kubeconfig.read_text(), "pod_pending_timeout": "3m"}))
    result = receptorctl_python(AWX_FLOW, str(kube_node.socket), "kubernetes-runtime-auth", str(private), str(params))
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    stdout = "\n".join(outcome["stdout"])
    assert outcome["status"] == "successful", outcome
    assert f"hello from {job.pod_name}-" in stdout, stdout      # receptor: metadata.name -> generateName
    assert marker in stdout, stdout                              # krb5.conf came from the ConfigMap mount
    receptorctl(kube_node.socket, "work", "release", outcome["unit"])


PLAYBOOK = """- hosts: localhost
  gather_facts: false
  tasks:
    - name: Greet from the job pod
      ansible.builtin.debug:
        msg: "{{ greeting }} from {{ lookup('env', 'HOSTNAME') }}"
    - name: Read krb5.conf as mounted from the ConfigMap
      ansible.builtin.command: head -1 /etc/krb5.conf
      changed_when: false
      register: realm
    - name: Show it
      ansible.builtin.debug:
        msg: "{{ realm.stdout | trim }}"
"""
