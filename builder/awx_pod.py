"""The pod AWX really creates for a container-group job, from its documented behaviour
(``awx/main/tasks/receptor.py``, ``AWXReceptorJob.pod_definition``, AWX 24):

1. AWX's default job pod (``get_default_pod_spec``), deep-merged with the instance group's
   ``pod_spec_override`` by AWX's ``deepmerge``: mappings merge key by key, anything else (lists
   too) is replaced whole by the override's value, and a null in the override keeps the default;
2. then AWX forces ``containers[0].image`` and ``args``, and ``imagePullPolicy`` from the EE's
   ``pull`` option;
3. appends ``ANSIBLE_RUNNER_KEEPALIVE_SECONDS`` to ``containers[0].env`` when its setting
   ``AWX_RUNNER_KEEPALIVE_SECONDS`` is not 0 (AWX 24 appends; newer AWX replaces a same-named
   entry);
4. with ``AWX_MOUNT_ISOLATED_PATHS_ON_K8S`` on, turns each ``AWX_ISOLATION_SHOW_PATHS`` entry into
   a hostPath volume ``volume-<i>`` mounted on ``containers[0]``, appended to what is there;
5. with a registry credential on the EE, replaces ``imagePullSecrets`` with a secret AWX creates
   (``automation-<job>-image-pull-secret-<id>``), whatever the override said;
6. merges ``metadata.name: automation-job-<id>`` and its labels.

``problems`` names what the API server (or AWX) would do to such a pod that the user did not ask
for. ``ee-builder awx objects`` refuses an override whose AWX pod has any; the tests also put every
combination through the API server's server-side dry run.
"""
from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from typing import Any

WORKER_ARGS = ["ansible-runner", "worker", "--private-data-dir=/runner"]
PULL_POLICY = {"always": "Always", "missing": "IfNotPresent", "never": "Never"}
KEEPALIVE_ENV = "ANSIBLE_RUNNER_KEEPALIVE_SECONDS"
KEEPALIVE_SETTING = "AWX_RUNNER_KEEPALIVE_SECONDS"


@dataclass(frozen=True)
class AwxJob:
    """What AWX knows when it builds the pod: the EE, the job, and its settings."""
    image: str
    pull: str = "missing"                        # the EE's pull option
    ee_credential: bool = False                  # the EE has a registry credential
    job_id: int = 1
    install_uuid: str = "00000000-0000-0000-0000-000000000000"
    default_namespace: str = "default"           # AWX_CONTAINER_GROUP_DEFAULT_NAMESPACE
    keepalive_seconds: int = 0                   # AWX_RUNNER_KEEPALIVE_SECONDS (AWX's default: 0)
    isolation_show_paths: tuple[str, ...] = ()   # AWX_ISOLATION_SHOW_PATHS
    mount_isolated_paths_on_k8s: bool = False    # AWX_MOUNT_ISOLATED_PATHS_ON_K8S

    @property
    def pod_name(self) -> str:
        return f"automation-job-{self.job_id}"

    @property
    def pull_secret(self) -> str:
        """The name pattern of the secret AWX creates from the EE's credential."""
        return f"automation-{self.job_id}-image-pull-secret-1"


def deepmerge(a: Any, b: Any) -> Any:
    """AWX's ``deepmerge``: ``b`` wins, mappings merge recursively, None in ``b`` keeps ``a``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {key: deepmerge(a.get(key), b.get(key)) for key in {**a, **b}}
    return a if b is None else copy.deepcopy(b)


def default_pod_spec(job: AwxJob) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"namespace": job.default_namespace},
        "spec": {
            "serviceAccountName": "default",
            "automountServiceAccountToken": False,
            "containers": [{"image": job.image, "name": "worker", "args": list(WORKER_ARGS),
                            "resources": {"requests": {"cpu": "250m", "memory": "100Mi"}}}],
        },
    }


def isolation_path(entry: str) -> tuple[str, str, str | None]:
    """An AWX_ISOLATION_SHOW_PATHS entry as AWX reads it: ``SRC:DEST:OPTION``, ``SRC:DEST`` or a
    path mounted where it is (any other count of colons)."""
    parts = entry.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1], None
    return entry, entry, None


def job_pod(override: dict[str, Any], job: AwxJob) -> dict[str, Any]:
    pod = deepmerge(default_pod_spec(job), override or {})
    worker = pod["spec"]["containers"][0]
    worker["image"] = job.image
    worker["args"] = list(WORKER_ARGS)
    if job.pull:
        worker["imagePullPolicy"] = PULL_POLICY[job.pull]
    if job.keepalive_seconds:
        worker.setdefault("env", []).append({"name": KEEPALIVE_ENV, "value": str(job.keepalive_seconds)})
    if job.mount_isolated_paths_on_k8s and job.isolation_show_paths:
        volumes, mounts = [], []
        for index, path in enumerate(job.isolation_show_paths):
            source, dest, option = isolation_path(path)
            volumes.append({"name": f"volume-{index}", "hostPath": {"path": source}})
            mounts.append({"name": f"volume-{index}", "mountPath": dest, "readOnly": option == "ro"})
        pod["spec"]["volumes"] = (pod["spec"].get("volumes") or []) + volumes
        worker["volumeMounts"] = (worker.get("volumeMounts") or []) + mounts
    if job.ee_credential:
        pod["spec"]["imagePullSecrets"] = [{"name": job.pull_secret}]
    pod["metadata"] = deepmerge(pod.get("metadata") or {}, {
        "name": job.pod_name, "labels": {"ansible-awx": job.install_uuid, "ansible-awx-job-id": str(job.job_id)}})
    return pod


def problems(override: dict[str, Any], job: AwxJob) -> list[str]:
    """What goes wrong when AWX runs ``job`` with ``override``, in words for the user."""
    pod = job_pod(override, job)
    found = []
    for container in pod["spec"]["containers"]:
        name = container.get("name", "?")
        for path, count in Counter(m.get("mountPath") for m in container.get("volumeMounts") or []).items():
            if count > 1:
                found.append(f'container {name}: mountPath "{path}" is mounted {count} times (the API server '
                             f'refuses the pod: "must be unique")')
        for env, count in Counter(e.get("name") for e in container.get("env") or []).items():
            if count > 1:
                found.append(f"container {name}: env {env} is set {count} times (the API server warns, and "
                             f"the last value wins)")
    for volume, count in Counter(v.get("name") for v in pod["spec"].get("volumes") or []).items():
        if count > 1:
            found.append(f'volume "{volume}" is defined {count} times (the API server refuses the pod)')
    asked = (override.get("spec") or {}).get("imagePullSecrets")
    if job.ee_credential and asked and asked != pod["spec"]["imagePullSecrets"]:
        found.append(f"imagePullSecrets {[s.get('name') for s in asked]} is replaced by AWX's own secret "
                     f"({job.pull_secret}), because the execution environment has a registry credential")
    return found
