"""The AWX-side objects that carry an image's configuration to where jobs run.

Pure functions returning plain data (YAML/JSON-ready):

- ``krb5_configmap``: krb5.conf as a ConfigMap, for the namespace where container-group jobs run;
- ``container_group_pod_spec``: AWX's default job pod (container ``worker``, ``ansible-runner
  worker --private-data-dir=/runner``) plus the ConfigMap mounted with ``subPath`` at
  /etc/krb5.conf. AWX deep-merges a container group's ``pod_spec_override`` into its default but
  replaces lists whole, so the override carries the complete ``containers`` list;
- ``isolation_paths``: the AWX setting that mounts the execution node's krb5.conf into jobs run
  there by Podman.
"""
from __future__ import annotations

from typing import Any

KRB5_CONF = "/etc/krb5.conf"
KRB5_KEY = "krb5.conf"
KRB5_VOLUME = "krb5-conf"
DEFAULT_CONFIGMAP = "ee-krb5-conf"
DEFAULT_NAMESPACE = "awx"


def krb5_configmap(krb5_conf: str, name: str = DEFAULT_CONFIGMAP, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "ee-builder"}},
        "data": {KRB5_KEY: krb5_conf},
    }


def container_group_pod_spec(image: str, namespace: str = DEFAULT_NAMESPACE,
                             configmap: str | None = DEFAULT_CONFIGMAP) -> dict[str, Any]:
    """AWX's default container-group job pod for ``image``, with krb5.conf from ``configmap``."""
    worker: dict[str, Any] = {
        "name": "worker",
        "image": image,
        "args": ["ansible-runner", "worker", "--private-data-dir=/runner"],
        "resources": {"requests": {"cpu": "250m", "memory": "100Mi"}},
    }
    spec: dict[str, Any] = {
        "serviceAccountName": "default",
        "automountServiceAccountToken": False,
        "containers": [worker],
    }
    if configmap:
        # subPath: only this file, so the rest of the image's /etc stays as built.
        worker["volumeMounts"] = [{"name": KRB5_VOLUME, "mountPath": KRB5_CONF, "subPath": KRB5_KEY, "readOnly": True}]
        spec["volumes"] = [{"name": KRB5_VOLUME, "configMap": {"name": configmap, "items": [{"key": KRB5_KEY, "path": KRB5_KEY}]}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": namespace}, "spec": spec}


def isolation_paths(host_path: str = KRB5_CONF) -> dict[str, list[str]]:
    """AWX setting for execution nodes: mount the node's krb5.conf (the rendered one) into jobs.

    ``ro``, not the ``O`` (overlay) seen in AWX examples: Podman overlays only directories, and a
    file mounted with ``:O`` stops the job container from starting."""
    return {"AWX_ISOLATION_SHOW_PATHS": [f"{host_path}:{KRB5_CONF}:ro"]}
