"""The AWX-side objects that carry an image and its configuration to where jobs run.

Pure functions returning plain data (YAML/JSON-ready):

- ``krb5_configmap``: krb5.conf as a ConfigMap, for the namespace where container-group jobs run;
- ``container_group_pod_spec``: AWX's default job pod (container ``worker``, ``ansible-runner
  worker --private-data-dir=/runner``) plus the ConfigMap mounted with ``subPath`` at
  /etc/krb5.conf. AWX deep-merges a container group's ``pod_spec_override`` into its default but
  replaces lists whole, so the override carries the complete ``containers`` list;
- ``isolation_paths``: the AWX setting that mounts the execution node's krb5.conf into jobs run
  there by Podman;
- ``awx_settings``: AWX's job settings ee-builder sets (the runner keepalive);
- ``objects``: all of them as files, after ``awx_pod`` (AWX's own pod building) found no problem.
"""
from __future__ import annotations

import json
from typing import Any

from . import awx_pod, yamlfile
from .errors import UserError

# The only combination awx_pod.problems can find in what objects() composes.
_PROBLEM_FIX = ("awx.mount_isolated_paths_on_k8s: true means AWX mounts AWX_ISOLATION_SHOW_PATHS (the execution "
                "nodes' /etc/krb5.conf, `ee-builder krb5 render -f isolation-path`) into container-group pods as "
                "hostPath too, on top of the krb5.conf ConfigMap. Expected AWX_MOUNT_ISOLATED_PATHS_ON_K8S off "
                "(AWX's default: set it off in AWX and awx.mount_isolated_paths_on_k8s: false), or keep "
                "/etc/krb5.conf out of AWX_ISOLATION_SHOW_PATHS.")
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
                             configmap: str | None = DEFAULT_CONFIGMAP, pull_secret: str | None = None,
                             host_aliases: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """AWX's default container-group job pod for ``image``, with krb5.conf from ``configmap``, a
    pull secret (only for EEs without a registry credential: AWX replaces it otherwise) and
    /etc/hosts entries for Windows hosts and KDCs that DNS does not know.

    No ``ANSIBLE_RUNNER_KEEPALIVE_SECONDS`` here: AWX appends its own from the setting
    ``AWX_RUNNER_KEEPALIVE_SECONDS``, so both would be set (``awx_settings``)."""
    worker: dict[str, Any] = {
        "name": "worker",
        "image": image,
        "args": list(awx_pod.WORKER_ARGS),
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
    if pull_secret:
        spec["imagePullSecrets"] = [{"name": pull_secret}]
    if host_aliases:
        spec["hostAliases"] = [{"ip": ip, "hostnames": list(names)} for ip, names in host_aliases.items()]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": namespace}, "spec": spec}


def isolation_paths(host_path: str = KRB5_CONF) -> dict[str, list[str]]:
    """AWX setting for execution nodes: mount the node's krb5.conf (the rendered one) into jobs.

    ``ro``, not the ``O`` (overlay) seen in AWX examples: Podman overlays only directories, and a
    file mounted with ``:O`` stops the job container from starting."""
    return {"AWX_ISOLATION_SHOW_PATHS": [f"{host_path}:{KRB5_CONF}:ro"]}


def awx_settings(keepalive_seconds: int) -> dict[str, Any]:
    """AWX's job settings ee-builder sets: the runner keepalive (for every container group: so
    idle-cutting load balancers do not end silent jobs). Empty at AWX's default (0)."""
    return {awx_pod.KEEPALIVE_SETTING: keepalive_seconds} if keepalive_seconds else {}


def execution_environment(name: str, image: str, pull: str, registry_credential: str | None,
                          organization: str | None) -> dict[str, Any]:
    """The awx.awx.execution_environment module's arguments (AWX API field names)."""
    ee = {"name": name, "image": image, "pull": pull, "description": "built and published by ee-builder"}
    if registry_credential:
        ee["credential"] = registry_credential
    if organization:
        ee["organization"] = organization
    return ee


def container_group(name: str, pod_spec: dict[str, Any], credential: str | None) -> dict[str, Any]:
    """The awx.awx.instance_group module's arguments for a container group."""
    group = {"name": name, "is_container_group": True, "pod_spec_override": yamlfile.dump(pod_spec)}
    if credential:
        group["credential"] = credential
    return group


def playbook(ee: dict[str, Any], group: dict[str, Any], configmap: dict[str, Any] | None,
             settings: dict[str, Any]) -> list[dict[str, Any]]:
    """An awx.awx playbook creating the objects (controller_host/… from the environment, as the
    collection reads them: CONTROLLER_HOST, CONTROLLER_USERNAME, CONTROLLER_PASSWORD or _OAUTH_TOKEN).

    Every text in the modules' arguments is data (names from settings, the image reference, the
    krb5.conf, the pod spec): all of it is marked unsafe, so Ansible passes it on untemplated."""
    def task(name: str, module: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, module: _unsafe({**args, "state": "present"})}

    # awx.awx.settings takes no state.
    settings_task = [{"name": "AWX job settings (Settings > Jobs)", "awx.awx.settings": {"settings": settings}}]

    return [{
        "name": "AWX objects for the image published by ee-builder",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": ([task("krb5.conf ConfigMap in the namespace where container-group jobs run", "kubernetes.core.k8s",
                        {"definition": configmap})] if configmap else []) + [
            task("Execution environment", "awx.awx.execution_environment", ee),
            task("Container group", "awx.awx.instance_group", group),
        ] + (settings_task if settings else []),
    }]


def _unsafe(value: Any) -> Any:
    """``value`` with every string leaf (not mapping keys: those are the modules' and Kubernetes'
    field names) as ``yamlfile.Unsafe``."""
    if isinstance(value, str):
        return yamlfile.Unsafe(value)
    if isinstance(value, dict):
        return {key: _unsafe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unsafe(item) for item in value]
    return value


def api_requests(ee: dict[str, Any], group: dict[str, Any], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The same objects as AWX API calls. Credentials and organizations are referenced by ID in
    the API: the names are left as ``lookup`` notes to resolve first."""
    def body(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        lookups = {key: fields[key] for key in ("credential", "organization") if key in fields}
        return {key: (None if key in lookups else value) for key, value in fields.items()}, lookups

    requests = []
    for path, fields in (("/api/v2/execution_environments/", ee), ("/api/v2/instance_groups/", group)):
        payload, lookups = body(fields)
        request = {"method": "POST", "path": path, "body": payload}
        if lookups:
            request["lookup"] = {key: f"id of {key} named {value!r}" for key, value in lookups.items()}
        requests.append(request)
    if settings:
        requests.append({"method": "PATCH", "path": "/api/v2/settings/jobs/", "body": settings})
    return requests


def awx_job(settings, image: str, krb5_conf: str | None, job_id: int = 1) -> awx_pod.AwxJob:
    """How the AWX these objects go to runs a job with them (its settings as ``awx:`` describes them)."""
    cfg = settings.awx
    return awx_pod.AwxJob(
        image=image, pull=cfg.execution_environment.pull, job_id=job_id,
        ee_credential=cfg.execution_environment.registry_credential is not None,
        default_namespace=cfg.container_group.namespace, keepalive_seconds=cfg.container_group.keepalive_seconds,
        isolation_show_paths=tuple(isolation_paths()["AWX_ISOLATION_SHOW_PATHS"]) if krb5_conf else (),
        mount_isolated_paths_on_k8s=cfg.mount_isolated_paths_on_k8s)


def pod_spec_override(settings, image: str, krb5_conf: str | None) -> dict[str, Any]:
    group = settings.awx.container_group
    return container_group_pod_spec(image, group.namespace, group.configmap if krb5_conf else None,
                                    group.image_pull_secret, group.host_aliases)


def objects(settings, image: str, krb5_conf: str | None) -> dict[str, str]:
    """Every file ``ee-builder awx objects`` writes, by name: the ConfigMap, the pod spec, the
    awx.awx playbook and the API requests, all for ``image`` (a reference by digest).

    The pod spec is put through AWX's own pod building first (``awx_pod``): objects whose job pod
    the API server would refuse or AWX would quietly change are not written."""
    cfg = settings.awx
    group = cfg.container_group
    configmap = krb5_configmap(krb5_conf, group.configmap, group.namespace) if krb5_conf else None
    pod = pod_spec_override(settings, image, krb5_conf)
    found = awx_pod.problems(pod, awx_job(settings, image, krb5_conf))
    if found:
        raise UserError(f"{settings.path}: AWX would run container-group jobs in a pod that does not work as "
                        f"generated: " + "; ".join(found) + ". " + _PROBLEM_FIX)
    ee = execution_environment(cfg.execution_environment.name, image, cfg.execution_environment.pull,
                               cfg.execution_environment.registry_credential, cfg.organization)
    instance_group = container_group(group.name, pod, group.credential)
    jobs = awx_settings(group.keepalive_seconds)
    files = {
        "container-group-pod-spec.yml": yamlfile.dump(pod),
        "awx-objects.yml": yamlfile.dump(playbook(ee, instance_group, configmap, jobs)),
        "awx-api.json": json.dumps(api_requests(ee, instance_group, jobs), indent=2) + "\n",
    }
    if configmap:
        files["krb5-configmap.yml"] = yamlfile.dump(configmap)
    return files
