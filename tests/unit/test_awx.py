"""The AWX objects that carry krb5.conf to jobs."""
from __future__ import annotations

import json

import yaml

from builder import awx, yamlfile

CONF = "[libdefaults]\n    default_realm = CORP.TEST\n"


class Tagged(str):
    """A string the YAML marked ``!unsafe``."""


class _KeepsUnsafe(yaml.SafeLoader):
    pass


_KeepsUnsafe.add_constructor("!unsafe", lambda loader, node: Tagged(loader.construct_scalar(node)))


def load_playbook(text: str) -> list:
    """The playbook as Ansible reads it: ``!unsafe`` text kept, as ``Tagged``."""
    return yaml.load(text, Loader=_KeepsUnsafe)


def string_leaves(value, where=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from string_leaves(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, f"{where}[{index}]")
    elif isinstance(value, str):
        yield where, value


def test_configmap_holds_krb5_conf_verbatim_and_reads_as_a_block():
    text = yamlfile.dump(awx.krb5_configmap(CONF, "krb5", "jobs"))
    assert "krb5.conf: |\n    [libdefaults]\n        default_realm = CORP.TEST\n" in text
    loaded = yaml.safe_load(text)
    assert loaded["data"]["krb5.conf"] == CONF
    assert loaded["metadata"] == {"name": "krb5", "namespace": "jobs",
                                  "labels": {"app.kubernetes.io/managed-by": "ee-builder"}}


def test_pod_spec_is_awx_default_worker_with_krb5_conf_mounted_by_subpath():
    pod = awx.container_group_pod_spec("registry.test/ee:1", "jobs", "krb5")
    [worker] = pod["spec"]["containers"]
    assert worker["name"] == "worker" and worker["image"] == "registry.test/ee:1"
    assert worker["args"] == ["ansible-runner", "worker", "--private-data-dir=/runner"]
    [mount] = worker["volumeMounts"]
    [volume] = pod["spec"]["volumes"]
    assert mount == {"name": volume["name"], "mountPath": "/etc/krb5.conf", "subPath": "krb5.conf", "readOnly": True}
    assert volume["configMap"]["name"] == "krb5"
    assert pod["metadata"]["namespace"] == "jobs"
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_pod_spec_without_configmap_mounts_nothing():
    pod = awx.container_group_pod_spec("ee:1", configmap=None)
    assert "volumes" not in pod["spec"] and "volumeMounts" not in pod["spec"]["containers"][0]


def test_isolation_path_mounts_the_node_file_over_etc_krb5_conf():
    assert json.loads(json.dumps(awx.isolation_paths("/srv/krb5.conf"))) == \
        {"AWX_ISOLATION_SHOW_PATHS": ["/srv/krb5.conf:/etc/krb5.conf:ro"]}


def test_objects_reference_the_image_by_digest_with_keepalive_as_awx_setting_and_host_aliases(project):
    from builder import settings
    from tests.helpers import ROOT
    loaded = settings.load(project("ee-builder.yml", f"""definition: {ROOT / 'execution-environment.yml'}
awx:
  organization: Windows
  execution_environment: {{name: EE, pull: always, registry_credential: reg}}
  container_group:
    name: jobs
    namespace: jobs-ns
    credential: k8s
    keepalive_seconds: 120
    host_aliases: {{10.0.0.5: [dc1.corp.test]}}
"""))
    image = "registry.test/ee@sha256:" + "a" * 64
    files = awx.objects(loaded, image, CONF)
    pod = yaml.safe_load(files["container-group-pod-spec.yml"])
    spec = pod["spec"]
    assert spec["containers"][0]["image"] == image and pod["metadata"]["namespace"] == "jobs-ns"
    # AWX makes the pull secret from the EE's credential and sets the keepalive env from its setting.
    assert "imagePullSecrets" not in spec and "env" not in spec["containers"][0]
    assert spec["hostAliases"] == [{"ip": "10.0.0.5", "hostnames": ["dc1.corp.test"]}]
    [play] = load_playbook(files["awx-objects.yml"])
    configmap, ee, group, jobs = (task for task in play["tasks"])
    assert configmap["kubernetes.core.k8s"]["definition"]["metadata"]["namespace"] == "jobs-ns"
    assert ee["awx.awx.execution_environment"] == {"name": "EE", "image": image, "pull": "always", "credential": "reg",
                                                   "organization": "Windows", "state": "present",
                                                   "description": "built and published by ee-builder"}
    assert yaml.safe_load(group["awx.awx.instance_group"]["pod_spec_override"]) == pod
    assert jobs["awx.awx.settings"] == {"settings": {"AWX_RUNNER_KEEPALIVE_SECONDS": 120}}
    [ee_call, group_call, settings_call] = json.loads(files["awx-api.json"])
    assert ee_call["path"] == "/api/v2/execution_environments/" and ee_call["body"]["credential"] is None
    assert ee_call["lookup"] == {"credential": "id of credential named 'reg'",
                                 "organization": "id of organization named 'Windows'"}
    assert group_call["body"]["is_container_group"] is True
    assert settings_call == {"method": "PATCH", "path": "/api/v2/settings/jobs/",
                             "body": {"AWX_RUNNER_KEEPALIVE_SECONDS": 120}}
    assert yaml.safe_load(files["krb5-configmap.yml"])["data"]["krb5.conf"] == CONF


def test_pull_secret_only_without_registry_credential_and_no_setting_at_keepalive_0(project):
    from builder import settings
    from tests.helpers import ROOT
    loaded = settings.load(project("ee-builder.yml", f"""definition: {ROOT / 'execution-environment.yml'}
awx:
  container_group: {{image_pull_secret: pull, keepalive_seconds: 0}}
"""))
    files = awx.objects(loaded, "registry.test/ee@sha256:" + "a" * 64, None)
    assert yaml.safe_load(files["container-group-pod-spec.yml"])["spec"]["imagePullSecrets"] == [{"name": "pull"}]
    [play] = load_playbook(files["awx-objects.yml"])
    assert [next(k for k in task if k != "name") for task in play["tasks"]] == \
        ["awx.awx.execution_environment", "awx.awx.instance_group"]
    assert [call["path"] for call in json.loads(files["awx-api.json"])] == \
        ["/api/v2/execution_environments/", "/api/v2/instance_groups/"]


INJECTED = "{{ lookup('pipe', 'id') }}"


def test_playbook_marks_every_text_in_module_arguments_unsafe(project):
    """Ansible templates module arguments: nothing from settings may be evaluated there."""
    from builder import settings
    from tests.helpers import KERBEROS_SETTINGS, ROOT
    loaded = settings.load(project("ee-builder.yml", f"""definition: {ROOT / 'execution-environment.yml'}
{KERBEROS_SETTINGS}awx:
  organization: "Org {INJECTED}"
  execution_environment: {{name: "EE {INJECTED}", registry_credential: "reg {INJECTED}"}}
  container_group: {{name: "jobs {INJECTED}", credential: "k8s {INJECTED}", host_aliases: {{10.0.0.5: [dc1.corp.test]}}}}
"""))
    text = awx.objects(loaded, "registry.test/ee@sha256:" + "a" * 64, CONF)["awx-objects.yml"]
    [play] = load_playbook(text)
    modules = [args for task in play["tasks"] for key, args in task.items() if key != "name"]
    assert [task["name"] for task in play["tasks"]] == \
        ["krb5.conf ConfigMap in the namespace where container-group jobs run", "Execution environment",
         "Container group", "AWX job settings (Settings > Jobs)"]
    leaves = [leaf for args in modules for leaf in string_leaves(args)]
    assert len(leaves) > 10  # every module, down to the ConfigMap's labels
    assert [where for where, value in leaves if not isinstance(value, Tagged)] == []
    injected = [where for where, value in leaves if INJECTED in value]
    assert injected == [".name", ".credential", ".organization", ".name", ".credential"]
    assert yaml.safe_load(play["tasks"][2]["awx.awx.instance_group"]["pod_spec_override"])["kind"] == "Pod"
