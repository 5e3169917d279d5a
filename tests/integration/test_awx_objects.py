"""The AWX objects for the published image: the pod spec passes the API server's server-side
dry run; the awx.awx playbook passes ansible-playbook's syntax check with the real collections
(awx.awx and kubernetes.core, cut from the ansible package on PyPI)."""
from __future__ import annotations

import uuid

import pytest
import yaml

from builder import collection_sources
from builder.progress import Silent
from builder.settings import Collections
from tests.helpers import ROOT, ee_builder, project_settings, project_with

IMAGE = "10.254.254.1:5443/ee/awx-ee-kerberos@sha256:" + "0" * 64


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    out = tmp_path_factory.mktemp("awx")
    result = ee_builder("awx", "objects", "--image", IMAGE, "-o", str(out), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    out.chmod(0o755)  # the image runs as UID 1000
    return out


def test_pod_spec_and_configmap_pass_server_side_dry_run(cluster, objects):
    namespace = yaml.safe_load((objects / "container-group-pod-spec.yml").read_text())["metadata"]["namespace"]
    if cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", namespace)
    for name in ("krb5-configmap.yml", "container-group-pod-spec.yml"):
        manifest = yaml.safe_load((objects / name).read_text())
        if manifest["kind"] == "Pod":
            manifest["metadata"]["name"] = "automation-job-1"  # AWX names the pod at launch
        result = cluster.kubectl("create", "--dry-run=server", "-o", "yaml", "-f", "-", input=yaml.safe_dump(manifest),
                                 check=False)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert yaml.safe_load(result.stdout)["metadata"]["namespace"] == namespace


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
    assert [args["name"] for task in play["tasks"] for module, args in task.items() if module.startswith("awx.")] == \
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


def test_container_group_pod_runs_a_runner_job_fed_as_receptor_feeds_it(cluster, built, engine, objects, tmp_path):
    """AWX's container-group flow WITHOUT receptor (none can be built here): the generated pod spec
    with the published image, ConfigMap and pull secret; `ansible-runner transmit`'s payload sent to
    the worker's stdin through attach and its stream read back from the pod log, as receptor's
    work-kubernetes does; `ansible-runner process` judges the job."""
    image = cluster.push(built.image, "ee/awx-ee-kerberos:pod-job")
    pod = yaml.safe_load((objects / "container-group-pod-spec.yml").read_text())
    namespace = pod["metadata"]["namespace"]
    if cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", namespace)
    cluster.pull_secret(pod["spec"]["imagePullSecrets"][0]["name"], namespace)
    configmap = yaml.safe_load((objects / "krb5-configmap.yml").read_text())
    marker = "# from the ConfigMap " + uuid.uuid4().hex[:8]  # the baked file has the same realm: tell them apart
    configmap["data"]["krb5.conf"] = marker + "\n" + configmap["data"]["krb5.conf"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(configmap))
    name = "automation-job-" + uuid.uuid4().hex[:6]
    pod["metadata"]["name"] = name
    pod["spec"]["restartPolicy"] = "Never"                                   # receptor forces these three
    pod["spec"]["containers"][0].update(image=image, stdin=True, stdinOnce=True)

    project = tmp_path / "job"
    (project / "project").mkdir(parents=True)
    (project / "inventory").mkdir()
    (project / "project" / "job.yml").write_text(PLAYBOOK)
    (project / "inventory" / "hosts").write_text("localhost ansible_connection=local\n")
    (project / "env").mkdir()
    (project / "env" / "extravars").write_text("greeting: hello\n")  # as AWX passes extra vars
    project.chmod(0o777)
    rc, payload = engine.run(built.image, ["bash", "-c", "ansible-runner transmit /job -p job.yml"],
                             mounts={str(project): "/job"}, environment={"HOME": "/tmp"})
    assert rc == 0 and '"zipfile"' in payload, payload[-2000:]

    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))
    cluster.kubectl("wait", "-n", namespace, f"pod/{name}", "--for=condition=Ready", "--timeout=180s", timeout=200)
    cluster.kubectl("attach", "-i", "-n", namespace, name, "-c", "worker", input=payload, timeout=120)
    stream = cluster.kubectl("logs", "-f", "-n", namespace, name, "-c", "worker", timeout=300).stdout
    (tmp_path / "stream").write_text(stream)
    (tmp_path / "stream").chmod(0o644)
    rc, processed = engine.run(built.image, ["bash", "-c", "cp -r /job /tmp/job && ansible-runner process /tmp/job < /stream; echo process-rc=$?"],
                               mounts={str(project): "/job", str(tmp_path / "stream"): "/stream"},
                               environment={"HOME": "/tmp"})
    assert "process-rc=0" in processed, processed[-3000:]
    assert f'"msg": "hello from {name}"' in processed, processed[-3000:]
    assert f'"msg": "{marker}"' in processed, processed[-3000:]  # krb5.conf came from the ConfigMap mount
    cluster.kubectl("delete", "pod", "-n", namespace, name, "--wait=false")


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
