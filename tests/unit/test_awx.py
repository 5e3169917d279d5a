"""The AWX objects that carry krb5.conf to jobs."""
from __future__ import annotations

import json

import yaml

from builder import awx, yamlfile

CONF = "[libdefaults]\n    default_realm = CORP.TEST\n"


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
