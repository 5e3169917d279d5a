"""``work-kubernetes`` units of the receptor STAND-IN, run the way receptor's ``pkg/workceptor/kubernetes.go``
(logger stream method) runs them, through ``kubectl`` instead of client-go.

Reproduced: the submit-time params rules and their messages (``<name> provided but not allowed``,
``secret_kube_config`` required for ``authmethod: runtime``, ``secret_kube_pod`` excluding
``kube_command``/``kube_image``/``kube_params``); the pod from ``secret_kube_pod`` (or the config's
``pod`` file, or image/command/params) with a container named ``worker`` (``stdin``, ``stdinOnce``)
and ``restartPolicy: Never``, ``metadata.name`` as a ``generateName`` prefix and
``metadata.namespace`` winning; "Pod created", 2 s, then the wait for PodReady bounded by
``pod_pending_timeout`` (Failed / Succeeded-before-attach / ImagePullBackOff seen more than 3
times / deleted / timed out, each with receptor's "Error creating pod: …" Detail, the pod then
deleted); the payload sent with ``kubectl attach -i -c worker`` (Pending "Sending stdin to pod",
then Running "Pod Running"; an empty payload skips it); ``kubectl logs -f --timestamps -c worker``
into the unit's stdout with the timestamps stripped; kubeLoggingWithReconnect: when the stream
ends, the pod is fetched (5 tries, 1 s apart: "Error getting pod …" fails the unit) and the log
reopened with ``sinceTime`` (5 tries: "Error opening log stream for pod …"), lines not newer than
the last timestamp skipped, a budget of 5 reconnects reset only by a line written ("Detected Error:
unexpected EOF for pod ns/name. Will retry N more times." in the node's log), so a silent job cut
again and again fails with "Error with pod's stdout: unexpected EOF"; a clean EOF from a worker
that terminated ends the stream, and a termination other than Completed/Error (OOMKilled, evicted)
fails the unit as newer receptors do (PR #1444; our wording); otherwise completion = log EOF
("Finished", whatever the exit code); cancel and release delete the pod (Canceled even when
finished, as receptor's Cancel does).

Restart (receptor's KubeUnit.Restart, from its behaviour): the node stopping leaves the pods of
Running units alone (it only stops its kubectl processes); a node started on the same data dir
loads each unit from its status file (which keeps ``secret_kube_config`` and ``secret_kube_pod``,
blanked only in ``work status``). A Running unit with a PodName fetches its pod (5 tries, 200 ms
apart: "Error getting pod ns/name. Error: …" fails it) and streams the pod's log again from its
start, writing the unit's stdout from offset 0 as receptor's stdout writer does (no append), so
what stdout already held is rewritten with the same bytes rather than duplicated; the results
then complete as usual. A Pending unit fails with "Failed to restart: work unit is not in running
state, cannot be restarted", its pod deleted when ``deletepodonrestart`` (the default). Unlike
receptor, the stand-in also deletes a Pending unit's pod when it stops, so a node never restarted
leaves no pod behind (receptor would delete it at the restart anyway).

Not reproduced: the 5× retries around attach, ``streammethod: tcp``, ``incluster`` auth (no
in-cluster service account here: refused with client-go's message), the version switch
``RECEPTOR_KUBE_SUPPORT_RECONNECT`` (always on, as for any current Kubernetes), StdoutSize reset to 0
by a restart (the stand-in reports the file's size). kubectl's error texts stand in for client-go's
where they differ (a refused connection reads "Unable to connect to the server: …").
"""
from __future__ import annotations

import copy
import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import yaml

from tests.harness.receptor.config import KubernetesWorker
from tests.harness.receptor.work import CANCELED, FAILED, PENDING, RUNNING, SUCCEEDED, BaseUnit, WorkError

NOT_IN_CLUSTER = ("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                  "KUBERNETES_SERVICE_PORT must be defined")
TIMED_OUT = "timed out waiting for the condition"


def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` (seconds), with its error text."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r"([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+", text)
    if text == "0":
        return 0.0
    if not match:
        raise WorkError(f'time: invalid duration "{text}"')
    total = sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text))
    return -total if match.group(1) == "-" else total


class KubeUnit(BaseUnit):
    """One unit; the same surface as ``work.Unit`` for the control service and the workceptor."""

    def __init__(self, unit_id: str, directory: Path, worker: KubernetesWorker, params: dict[str, str]):
        super().__init__(unit_id, directory, worker)
        self.procs: list[subprocess.Popen] = []
        self.kubeconfig_file: str | None = None
        self.monitor: threading.Thread | None = None
        self.pending_timeout = 0.0
        self._set_from_params(params)

    # receptor's SetFromParams -------------------------------------------------------------------

    def _set_from_params(self, params: dict[str, str]) -> None:
        w = self.worker
        pod = Path(w.pod).read_text() if w.pod else ""
        kubeconfig = w.kubeconfig  # a file; empty = kubectl's default ($KUBECONFIG, ~/.kube/config)
        self.namespace, self.image, self.command = w.namespace, w.image, w.command
        user: dict[str, str] = {}
        for name, allowed in (("kube_command", w.allowruntimecommand), ("kube_image", w.allowruntimecommand),
                              ("kube_params", w.allowruntimeparams), ("kube_namespace", w.allowruntimeauth),
                              ("secret_kube_config", w.allowruntimeauth), ("secret_kube_pod", w.allowruntimepod),
                              ("pod_pending_timeout", w.allowruntimeparams)):
            value = params.get(name, "")
            if value:
                if not allowed:
                    raise WorkError(f"{name} provided but not allowed")
                user[name] = value
        self.namespace = user.get("kube_namespace", self.namespace)
        self.runtime_kubeconfig = user.get("secret_kube_config", "")
        if w.authmethod.lower() == "runtime" and not (self.runtime_kubeconfig or kubeconfig):
            raise WorkError("param secret_kube_config must be provided if AuthMethod=runtime")
        if user.get("secret_kube_pod") and any(k in user for k in ("kube_params", "kube_command", "kube_image")):
            raise WorkError("params kube_command, kube_image, kube_params not compatible with secret_kube_pod")
        if "pod_pending_timeout" in user:
            self.pending_timeout = parse_duration(user["pod_pending_timeout"])
        self.command = user.get("kube_command", self.command)
        self.image = user.get("kube_image", self.image)
        if user.get("secret_kube_pod"):
            self.pod, self.image, self.command, self.params = user["secret_kube_pod"], "", "", ""
        else:
            self.pod = pod
            self.params = " ".join(p for p in (w.params, user.get("kube_params", "")) if p)
        self.pod_name = ""

    def extra_data(self) -> dict:
        # KubeConfig and KubePod are blanked, as receptor's Status() does.
        return {"Image": self.image, "Command": self.command, "Params": self.params,
                "KubeNamespace": self.namespace, "KubeConfig": "", "KubePod": "", "PodName": self.pod_name}

    def stored_extra_data(self) -> dict:
        return {**self.extra_data(), "KubeConfig": self.runtime_kubeconfig, "KubePod": self.pod}

    # Restart ----------------------------------------------------------------------------------

    @classmethod
    def restored(cls, unit_id: str, directory: Path, worker: KubernetesWorker, stored: dict) -> "KubeUnit":
        """A unit found in the data dir when the node starts; ``load`` fills it from ``stored``."""
        unit = cls.__new__(cls)
        BaseUnit.__init__(unit, unit_id, directory, worker)
        unit.procs, unit.kubeconfig_file, unit.monitor, unit.pending_timeout = [], None, None, 0.0
        return unit

    def load(self, stored: dict) -> None:
        super().load(stored)
        extra = stored.get("ExtraData") or {}
        self.image, self.command = extra.get("Image", ""), extra.get("Command", "")
        self.params = extra.get("Params", "")
        self.namespace, self.pod_name = extra.get("KubeNamespace", ""), extra.get("PodName", "")
        self.runtime_kubeconfig, self.pod = extra.get("KubeConfig", ""), extra.get("KubePod", "")

    def restart(self) -> None:
        if self.complete():
            return
        self._write_kubeconfig()
        if self.state == RUNNING and self.pod_name and self.worker.streammethod.lower() != "tcp":
            log("INFO", f"Resuming work unit {self.id}: pod {self.namespace}/{self.pod_name}")
            self.monitor = threading.Thread(target=self._run, kwargs={"resume": True}, daemon=True)
            self.monitor.start()
            return
        if self.worker.deletepodonrestart and self.pod_name:
            deleted = self.kubectl("delete", "pod", self.pod_name, "-n", self.namespace, "--wait=false")
            if deleted.returncode != 0:
                log("WARNING", f"Pod {self.pod_name} could not be deleted: {api_error(deleted.stderr)}")
        reason = ("restart not implemented for streammethod tcp" if self.worker.streammethod.lower() == "tcp"
                  else "work unit is not in running state, cannot be restarted")
        self.update(FAILED, f"Failed to restart: {reason}")
        self.release_resources()

    def _resume_pod(self) -> bool:
        """The pod of a resumed unit, 5 tries 200 ms apart; a unit whose pod is gone fails."""
        if not self.namespace:
            self.update(FAILED, f"Error creating pod: pod namespace is empty for pod {self.pod_name}")
            return False
        # receptor's resume path retries faster and words its warning differently.
        return self._get_pod_with_retries(pause=0.2, warning="Retrying")

    # kubectl ----------------------------------------------------------------------------------

    def _kubectl_argv(self, *args: str) -> list[str]:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise WorkError('exec: "kubectl": executable file not found in $PATH (the stand-in drives Kubernetes '
                            'through kubectl)')
        argv = [kubectl]
        if self.kubeconfig_file:
            argv.append(f"--kubeconfig={self.kubeconfig_file}")
        elif self.worker.kubeconfig:
            argv.append(f"--kubeconfig={self.worker.kubeconfig}")
        return [*argv, *args]

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self._kubectl_argv(*args), input=input, capture_output=True, text=True,
                              timeout=timeout)

    # Start ------------------------------------------------------------------------------------

    def start(self) -> None:
        self.update(PENDING, "Connecting to Kubernetes")
        auth = self.worker.authmethod.lower()
        if auth == "incluster":
            # What client-go's InClusterConfig answers outside a pod; receptor's Start returns it.
            raise WorkError(NOT_IN_CLUSTER)
        self._write_kubeconfig()
        if not self.namespace:
            view = self.kubectl("config", "view", "--minify", "-o", "jsonpath={.contexts[0].context.namespace}")
            if view.returncode != 0:
                raise WorkError(api_error(view.stderr))
            self.namespace = view.stdout.strip() or "default"
        self.monitor = threading.Thread(target=self._run, daemon=True)
        self.monitor.start()

    def _write_kubeconfig(self) -> None:
        if self.runtime_kubeconfig and not self.kubeconfig_file:  # for kubectl (mode 0600), removed at release
            fd, self.kubeconfig_file = tempfile.mkstemp(prefix="receptor-kubeconfig-")
            with os.fdopen(fd, "w") as out:
                out.write(self.runtime_kubeconfig)

    def _run(self, resume: bool = False) -> None:
        try:
            self._run_logger(resume)
        except Exception as e:  # a stand-in bug must still end the unit, visibly
            self.update(FAILED, f"stand-in error: {type(e).__name__}: {e}")

    def _run_logger(self, resume: bool = False) -> None:
        skip_stdin = True
        if resume:
            if not self._resume_pod():
                return
        else:
            try:
                self._create_pod()
                skip_stdin = False
            except PodCompleted:
                pass
            except PodError as e:
                self.update(FAILED, f"Error creating pod: {e}")
                return
        if self.canceled:
            return
        stdin_path = self.dir / "stdin"
        if not skip_stdin and stdin_path.stat().st_size == 0:
            skip_stdin = True  # receptor's stdin reader refuses an empty file, and the attach is skipped
        stdin_error: list[str] = []
        sender = None
        if skip_stdin:
            self.update(RUNNING, "Pod Running")
        else:
            self.update(PENDING, "Sending stdin to pod")
            sender = threading.Thread(target=self._send_stdin, args=(stdin_path, stdin_error), daemon=True)
            sender.start()
        stdout_error = self._stream_logs(stdin_error, rewrite=resume)
        if sender is not None:
            sender.join(timeout=30)
        if self.canceled:
            return
        if stdin_error or stdout_error:
            if not stdin_error:
                detail = f"Error with pod's stdout: {stdout_error}"
            elif stdout_error is None:
                detail = f"Error with pod's stdin: {stdin_error[0]}"
            else:
                detail = f"Error running pod. stdin: {stdin_error[0]}, stdout: {stdout_error}"
            self.update(FAILED, detail)
            return
        if self.state == RUNNING:
            self.update(SUCCEEDED, "Finished")

    def _manifest(self) -> dict:
        name_prefix = f"{self.worker.worktype.lower()}-"
        if self.pod:
            try:
                pod = yaml.safe_load(self.pod)
            except yaml.YAMLError as e:
                raise PodError(str(e)) from None
            if not isinstance(pod, dict):
                raise PodError("couldn't get version/kind; json parse error")
            pod = copy.deepcopy(pod)
            spec = pod.get("spec") or {}
            worker = next((c for c in spec.get("containers") or [] if c.get("name") == "worker"), None)
            if worker is None:
                raise PodError("at least one container must be named worker")
            worker["stdin"] = worker["stdinOnce"] = True
            spec["restartPolicy"] = "Never"
            metadata = pod.get("metadata") or {}
            if metadata.get("namespace"):
                self.namespace = metadata["namespace"]
            if metadata.get("name"):
                name_prefix = f"{metadata['name']}-"
            metadata.pop("name", None)
            metadata.update(generateName=name_prefix, namespace=self.namespace)
        else:
            try:
                command, params = shlex.split(self.command), shlex.split(self.params)
            except ValueError as e:
                raise PodError(str(e)) from None
            container = {"name": "worker", "image": self.image, "stdin": True, "stdinOnce": True, "tty": False}
            if command:
                container["command"] = command
            if params:
                container["args"] = params
            metadata = {"generateName": name_prefix, "namespace": self.namespace}
            spec = {"containers": [container], "restartPolicy": "Never"}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}

    def _create_pod(self) -> None:
        manifest = self._manifest()
        created = self.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(manifest))
        if created.returncode != 0:
            raise PodError(api_error(created.stderr))
        pod = json.loads(created.stdout)
        self.pod_name, self.namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        if self.canceled:
            raise PodError("cancelled")
        self.update(PENDING, "Pod created")
        time.sleep(2)
        deadline = time.monotonic() + self.pending_timeout if self.pending_timeout > 0 else None
        error, last = self._wait_ready(deadline)
        if error is None:
            return
        statuses = (last or {}).get("status", {}).get("containerStatuses") or []
        if isinstance(error, PodCompleted):
            for status in statuses:
                if status.get("name") == "worker":
                    terminated = status.get("state", {}).get("terminated")
                    if terminated and terminated.get("exitCode", 0) != 0:
                        raise PodError(f"container failed with exit code {terminated['exitCode']}: "
                                       f"{terminated.get('message', '')}")
                    break
            raise error
        # receptor copies what log there is, cancels (deleting the pod), then fails with the reason.
        self._copy_log_once()
        self._delete_pod()
        message = str(error)
        if len(statuses) == 1:
            state = statuses[0].get("state", {})
            if "waiting" in state:
                raise PodError(f"{message}, {state['waiting'].get('reason', '')}")
            if statuses[0].get("name") == "worker":
                terminated = state.get("terminated")
                if terminated and terminated.get("exitCode", 0) != 0:
                    raise PodError(f"{message}, exit code {terminated['exitCode']}: {terminated.get('message', '')}")
        raise error

    def _wait_ready(self, deadline: float | None):
        """receptor's podRunningAndReady over polled pod versions (a watch sees each version once)."""
        pull_backoff_retries = 3
        seen_version, last = None, None
        while True:
            if self.canceled:
                return PodError("context canceled"), last
            if deadline is not None and time.monotonic() > deadline:
                return PodError(TIMED_OUT), last
            got = self.kubectl("get", "pod", self.pod_name, "-n", self.namespace, "-o", "json")
            if got.returncode != 0:
                if "NotFound" in got.stderr:
                    return PodError('pods "" not found'), last  # a Deleted event: NewNotFound with no name
                time.sleep(0.5)
                continue
            pod = json.loads(got.stdout)
            version = pod["metadata"].get("resourceVersion")
            if version != seen_version:
                seen_version, last = version, pod
                status = pod.get("status", {})
                phase = status.get("phase")
                if phase == "Failed":
                    return PodError("pod failed to start"), pod
                if phase == "Succeeded":
                    return PodCompleted("pod ran to completion"), pod
                for condition in status.get("conditions") or []:
                    if condition.get("type") == "Ready" and condition.get("status") == "True":
                        return None, pod
                    if condition.get("type") == "ContainersReady" and condition.get("status") == "False":
                        for cstat in status.get("containerStatuses") or []:
                            if cstat.get("state", {}).get("waiting", {}).get("reason") == "ImagePullBackOff":
                                if pull_backoff_retries == 0:
                                    return PodError("container failed to start"), pod
                                pull_backoff_retries -= 1
            time.sleep(0.5)

    def _copy_log_once(self) -> None:
        logs = self.kubectl("logs", self.pod_name, "-n", self.namespace, "-c", "worker")
        with open(self.dir / "stdout", "ab") as out:
            out.write(logs.stdout.encode() if logs.returncode == 0 else b"")

    def _send_stdin(self, path: Path, errors: list[str]) -> None:
        attach = self._popen(["attach", "-i", "-q", self.pod_name, "-n", self.namespace, "-c", "worker"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            with open(path, "rb") as stdin:
                shutil.copyfileobj(stdin, attach.stdin)
            attach.stdin.close()
        except (BrokenPipeError, OSError):
            attach.wait()
            errors.append(api_error(attach.stderr.read().decode(errors="replace")) or "attach ended early")
            return
        self.update(RUNNING, "Pod Running")
        # kubectl attach also follows the container's output; it ends with the container.
        code = attach.wait()
        if code != 0 and not self.canceled and self.state == PENDING:
            errors.append(api_error(attach.stderr.read().decode(errors="replace")))

    def _stream_logs(self, stdin_error: list[str], rewrite: bool = False) -> str | None:
        """receptor's kubeLoggingWithReconnect: ``logs -f --timestamps`` into stdout, each line's
        timestamp stripped; when the stream ends, the pod is fetched again and the log reopened
        from the last timestamp seen, lines not newer than it skipped. The budget of 5 is reset
        only by a line written, so a silent job cut again and again runs out of it. Returns the
        stdout error, if any; a failed get or open fails the unit here, as receptor does.
        ``rewrite`` (a resumed unit): stdout is written from its start, as receptor's writer does."""
        fd = os.open(self.dir / "stdout", os.O_WRONLY | os.O_CREAT, 0o600)
        if not rewrite:
            os.lseek(fd, 0, os.SEEK_END)
        with open(fd, "wb", buffering=0) as out:
            return self._follow(out, stdin_error)

    def _follow(self, out, stdin_error: list[str]) -> str | None:
        since: str | None = None
        since_ns = -1
        remaining, successful_write = RETRIES, False
        while not stdin_error and not self.canceled:
            if not self._get_pod_with_retries():
                return None
            stream = self._open_log_stream(since)
            if stream is None:
                return None
            for line in stream.lines():
                stamp, sep, message = line.partition(b" ")
                when = parse_time(stamp) if sep else None
                if when is not None:
                    if when <= since_ns and not successful_write:
                        continue
                    since, since_ns = stamp.decode(), when
                out.write(message if when is not None else line)
                remaining, successful_write = RETRIES, True
            error = stream.error()
            if self.canceled:
                return None
            if error == "EOF" and (finished := self._finished_worker()) is not None:
                return finished or None  # newer receptor: a terminated worker ends the stream
            log("INFO", f"Detected Error: {error} for pod {self.namespace}/{self.pod_name}. "
                        f"Will retry {remaining} more times.")
            successful_write = False
            remaining -= 1
            if remaining > 0:
                time.sleep(0.2)
                continue
            log("ERROR", f"Error reading from pod {self.namespace}/{self.pod_name}: {error}")
            return None if error == "EOF" else error
        return None

    def _get_pod_with_retries(self, pause: float = 1, warning: str = "Error") -> bool:
        """The pod, 5 tries ``pause`` apart; when it stays away, the unit fails ("Error getting pod")."""
        error = ""
        for retries in range(RETRIES, 0, -1):
            if self.canceled:
                return False
            got = self.kubectl("get", "pod", self.pod_name, "-n", self.namespace, "-o", "name")
            if got.returncode == 0:
                return True
            error = api_error(got.stderr)
            log("WARNING", f"Error getting pod {self.namespace}/{self.pod_name}. Will retry {retries} more times. "
                           f"{warning}: {error}")
            time.sleep(pause)
        message = f"Error getting pod {self.namespace}/{self.pod_name}. Error: {error}"
        log("ERROR", message)
        self.update(FAILED, message)
        return False

    def _open_log_stream(self, since: str | None) -> LogFollower | None:
        args = ["logs", "-f", "--timestamps", self.pod_name, "-n", self.namespace, "-c", "worker"]
        if since is not None:
            args.append(f"--since-time={since}")
        error = ""
        for retries in range(RETRIES, 0, -1):
            stream = LogFollower(self._popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            if not stream.refused():
                return stream
            error = stream.error()
            log("WARNING", f"Error opening log stream for pod {self.namespace}/{self.pod_name}. "
                           f"Will retry {retries} more times. Error: {error}")
            time.sleep(1)
        message = f"Error opening log stream for pod {self.namespace}/{self.pod_name}. Error: {error}"
        log("ERROR", message)
        self.update(FAILED, message)
        return None

    def _finished_worker(self) -> str | None:
        """After a stream ends: "" when the worker container terminated normally (Completed or
        Error: ansible-runner ran to its end), the interruption when it terminated otherwise
        (OOMKilled, evicted: receptor PR #1444, newer than v1.4.9), None while it has not."""
        got = self.kubectl("get", "pod", self.pod_name, "-n", self.namespace, "-o", "json")
        if got.returncode != 0:
            return None
        for status in json.loads(got.stdout).get("status", {}).get("containerStatuses") or []:
            terminated = status.get("state", {}).get("terminated") if status.get("name") == "worker" else None
            if terminated is not None:
                reason = terminated.get("reason", "")
                if reason in ("Completed", "Error"):
                    return ""
                # Our wording: the PR's own text was not available to compare.
                return f"container worker terminated: reason {reason}, exit code {terminated.get('exitCode')}"
        return None

    def _popen(self, args: list[str], **kwargs) -> subprocess.Popen:
        if self.stopping:  # no kubectl may outlive the node
            raise WorkError("the node is stopping")
        process = subprocess.Popen(self._kubectl_argv(*args), start_new_session=True, **kwargs)
        self.procs.append(process)
        return process

    # Cancel and release -------------------------------------------------------------------------

    def _delete_pod(self) -> None:
        if self.pod_name:
            self._write_kubeconfig()  # a unit loaded at restart that was complete then has none yet
            self.kubectl("delete", "pod", self.pod_name, "-n", self.namespace, "--wait=false",
                         "--ignore-not-found")

    def cancel(self) -> None:
        """receptor's KubeUnit.Cancel: Canceled (even when already complete) and the pod deleted."""
        self.canceled = True
        self.update(CANCELED, "Canceled")
        self._delete_pod()
        self._stop_processes()

    def _stop_processes(self) -> None:
        for process in self.procs:
            if process.poll() is None:
                process.kill()
                process.wait()

    def release_resources(self) -> None:
        if self.kubeconfig_file:
            Path(self.kubeconfig_file).unlink(missing_ok=True)
            self.kubeconfig_file = None

    def shutdown(self) -> None:
        """The node stops: the status file stays as it is, the kubectl processes stop, and the pod
        of a Running unit stays for a restarted node to resume (as receptor leaves it); a Pending
        unit's pod is deleted (receptor deletes it when it restarts)."""
        with self.lock:
            self.stopping = self.canceled = True
        if not self.complete() and self.state != RUNNING:
            self._delete_pod()
        self._stop_processes()
        self.release_resources()


class LogFollower:
    """One ``kubectl logs -f``: its lines, and how it ended as Go's reader would say it."""

    OPEN_WAIT = 5.0

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self._error: str | None = None

    def refused(self) -> bool:
        """Whether the request failed before any line (receptor's "Error opening log stream"):
        kubectl exited at once with a request error (``Get "<url>": …``, ``Error from server``)."""
        deadline = time.monotonic() + self.OPEN_WAIT
        while self.process.poll() is None and time.monotonic() < deadline:
            if select.select([self.process.stdout], [], [], 0.1)[0]:
                return False
        if self.process.poll() is None or self.process.stdout.peek(1):
            return False
        return REQUEST_ERROR.match(self._stderr()) is not None

    def lines(self):
        yield from self.process.stdout

    def _stderr(self) -> str:
        if self._error is None:
            self.process.wait()
            self._error = self.process.stderr.read().decode(errors="replace").strip()
        return self._error

    def error(self) -> str:
        """"EOF" for a clean end, else kubectl's error text ("unexpected EOF" for a cut stream)."""
        text = self._stderr()
        if self.process.returncode == 0:
            return "EOF"
        return api_error(text).removeprefix("error: ") or f"kubectl exited {self.process.returncode}"


class PodError(Exception):
    pass


class PodCompleted(PodError):
    """receptor's ErrPodCompleted: the pod finished before it could be attached to."""


def api_error(stderr: str) -> str:
    """The API's own message from kubectl's stderr (``Error from server (Forbidden): <message>``)."""
    return re.sub(r"^(error: )?Error from server( \([A-Za-z]+\))?: ", "", stderr.strip())


REQUEST_ERROR = re.compile(r'(error: )?([A-Z]+ "https?://|Error from server|Unable to connect to the server)')
RETRIES = 5


def log(level: str, message: str) -> None:
    """receptor's log line format, on the node's stderr (its log file in the tests)."""
    print(f"{level} {time.strftime('%Y/%m/%d %H:%M:%S')} {message}", file=sys.stderr, flush=True)


TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def parse_time(stamp: bytes) -> int | None:
    """An RFC 3339 timestamp as nanoseconds since the epoch (the kubelet's precision, which the
    skip of already-seen lines needs), None for anything else, as receptor's ParseTime."""
    match = TIMESTAMP.fullmatch(stamp)
    if match is None:
        return None
    whole = datetime.fromisoformat(stamp[:19].decode() + (match.group(2).decode().replace("Z", "+00:00")))
    fraction = (match.group(1) or b".")[1:].ljust(9, b"0")[:9]
    return int(whole.timestamp()) * 1_000_000_000 + int(fraction)
