"""`ee-builder verify`: jobs run against an image exactly the way AWX runs them, through receptor.

AWX's ``AWXReceptorJob`` (awx/main/tasks/receptor.py), step by step: ``ansible-runner transmit``
writes the job into one end of a socket pair from a thread; ``ReceptorControl.submit_work`` sends
the other end as the payload; ``get_work_results(return_socket=True, return_sockfile=True)`` feeds
``ansible-runner process``; when the job errs, ``work status`` (StateName, Detail) and the last
1,000 bytes of the results say why, as AWX reports a failed job; ``work release`` ends it.

Two paths, the two ways AWX runs an EE:

- **container group**: work type ``kubernetes-runtime-auth`` with ``secret_kube_config``,
  ``secret_kube_pod`` (the pod AWX makes of the container group's override: ``awx_pod``) and
  ``pod_pending_timeout``;
- **instance group** (an execution node): work type ``ansible-runner`` (a ``work-command`` running
  ``ansible-runner worker`` on the node), the job's kwargs asking for Podman process isolation with
  the image as ``container_image``, ``--pull`` from the EE's pull option and the isolation paths
  mounted (``build_execution_environment_params``).

Jobs and suites are data (``Job``, ``SUITES``); ``run_job`` is the one place that does I/O.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner
import yaml
from receptorctl.socket_interface import ReceptorControl

from . import awx_pod, receptor_config as rc
from . import secrets as masking, yamlfile  # the Windows suite
from .errors import UserError
from .progress import Progress

CONTAINER_GROUP = "container-group"
INSTANCE_GROUP = "instance-group"
PATHS = (CONTAINER_GROUP, INSTANCE_GROUP)
LOCAL = "localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n"
FAILED_TAIL = 1000  # bytes of results AWX shows for a failed unit


@dataclass(frozen=True)
class Job:
    """One job: its playbook and inventory, what a working EE gives, and the events it must show."""
    name: str
    playbook: str
    expect: str = "successful"                 # ansible-runner's status for a working EE
    inventory: str = LOCAL
    extravars: dict[str, Any] = field(default_factory=dict)
    must_show: tuple[str, ...] = ()            # texts that must appear in the events' stdout


def _play(tasks: str, facts: bool = False) -> str:
    return f"- hosts: all\n  gather_facts: {str(facts).lower()}\n  tasks:\n{tasks}"


SUITES: dict[str, tuple[Job, ...]] = {
    "smoke": (
        Job("ping", _play("    - ansible.builtin.ping:\n")),
        Job("command", _play("    - ansible.builtin.command: id -u\n      register: who\n      changed_when: false\n"
                             "    - ansible.builtin.debug:\n        msg: \"runs as uid {{ who.stdout }}\"\n"),
            must_show=("runs as uid",)),
        Job("facts", _play("    - ansible.builtin.debug:\n        msg: \"facts: {{ ansible_facts.distribution }} "
                           "{{ ansible_facts.python.version.major }}\"\n", facts=True),
            must_show=("facts: ",)),
    ),
    "failure": (
        Job("failing playbook", _play("    - ansible.builtin.debug:\n        msg: before the failure\n"
                                      "    - ansible.builtin.fail:\n        msg: failed on purpose\n"),
            expect="failed", must_show=("before the failure", "failed on purpose")),
    ),
}


def jobs(suites: tuple[str, ...], silence: int | None) -> tuple[Job, ...]:
    """The jobs of ``suites`` (every suite when none is named, but for a --silence run alone),
    then the silent job."""
    named = suites or (() if silence else tuple(sorted(SUITES)))
    chosen = tuple(job for name in named if name in SUITES for job in SUITES[name])
    return chosen + ((silent_job(silence),) if silence else ())


def silent_job(seconds: int) -> Job:
    """A task that prints nothing for ``seconds``: load balancers that cut idle connections (AKS:
    about 4 minutes) end its log stream unless ansible-runner's keepalive speaks meanwhile."""
    return Job(f"silent {seconds}s", _play("    - ansible.builtin.debug:\n        msg: before the silence\n"
                                           f"    - ansible.builtin.pause:\n        seconds: {seconds}\n"
                                           "    - ansible.builtin.debug:\n        msg: after the silence\n"),
               must_show=("before the silence", "after the silence"))


@dataclass(frozen=True)
class Target:
    """Where jobs run and what AWX knows about them."""
    control: Path                                # the receptor node's control socket
    image: str
    pull: str = "missing"                        # the EE's pull option
    kubeconfig: str | None = None                # container groups: AWX's Kubernetes credential as a kubeconfig
    override: dict[str, Any] = field(default_factory=dict)   # the container group's pod_spec_override
    keepalive_seconds: int = 0                   # AWX_RUNNER_KEEPALIVE_SECONDS
    pending_timeout: str = "5m"                  # AWX_CONTAINER_GROUP_POD_PENDING_TIMEOUT
    isolation_paths: tuple[str, ...] = ()        # AWX_ISOLATION_SHOW_PATHS
    run_options: tuple[str, ...] = ()            # DEFAULT_CONTAINER_RUN_OPTIONS (Podman on execution nodes)
    container_worktype: str = "kubernetes-runtime-auth"
    node_worktype: str = "ansible-runner"


@dataclass
class Outcome:
    job: str
    path: str
    status: str           # ansible-runner's: successful, failed, error, canceled…
    rc: int | None
    events: int
    seconds: float
    detail: str           # receptor's StateName and Detail, and for a failed unit its last output
    passed: bool
    unit: str | None = None
    counters: list[int] = field(default_factory=list, repr=False)  # the events' runner counters, as received
    stdout_bytes: int = 0  # the unit's StdoutSize: what came through the log stream
    stream_seconds: float = 0.0  # from the first event received to the last


def run_suite(target: Target, jobs: tuple[Job, ...], paths: tuple[str, ...], progress: Progress) -> list[Outcome]:
    outcomes = []
    for job in jobs:
        for path in paths:
            progress.say(f"{job.name} ({path}) …")
            outcome = run_job(target, job, path)
            progress.say(f"{job.name} ({path}): {outcome.status}, {outcome.events} events, {outcome.seconds:.1f}s"
                         + ("" if outcome.passed else f" — {outcome.detail}"))
            outcomes.append(outcome)
    return outcomes


def receptor_params(target: Target, path: str, job_id: int, node_dir: str) -> dict[str, str]:
    """What AWX submits with the work (pure)."""
    if path == CONTAINER_GROUP:
        if target.kubeconfig is None:
            raise UserError("the container-group path needs a kubeconfig (--kubeconfig): AWX's Kubernetes "
                            "credential for the cluster where the jobs run.")
        job = awx_pod.AwxJob(image=target.image, pull=target.pull, job_id=job_id,
                             keepalive_seconds=target.keepalive_seconds)
        pod = awx_pod.job_pod(target.override, job)
        kubeconfig = _in_namespace(target.kubeconfig, pod["metadata"].get("namespace"))
        return {"secret_kube_pod": yaml.dump(pod, explicit_start=True), "secret_kube_config": kubeconfig,
                "pod_pending_timeout": target.pending_timeout}
    # AWX_CLEANUP_PATHS: the node deletes its copy of the private data dir at the end.
    return {"params": f"--private-data-dir={node_dir} --delete"}


def _in_namespace(kubeconfig: str, namespace: str | None) -> str:
    """The kubeconfig with the job's namespace in its current context, as AWX builds the one it sends
    (``AWXReceptorJob.kube_config``): receptor v1.4.x records the context's namespace for the unit,
    and after a restart looks for the pod there. Anything not a plain kubeconfig is sent unchanged."""
    try:
        config = yaml.safe_load(kubeconfig)
    except yaml.YAMLError:
        return kubeconfig
    if not namespace or not isinstance(config, dict):
        return kubeconfig
    for entry in config.get("contexts") or []:
        if isinstance(entry, dict) and entry.get("name") == config.get("current-context") \
                and isinstance(entry.get("context"), dict):
            if entry["context"].get("namespace") == namespace:
                return kubeconfig
            entry["context"]["namespace"] = namespace
            return yaml.safe_dump(config, sort_keys=False)
    return kubeconfig


def runner_kwargs(target: Target, path: str) -> dict[str, Any]:
    """ansible-runner's kwargs AWX transmits: for execution nodes, Podman with the image (pure)."""
    if path == CONTAINER_GROUP:
        return {}
    # Podman's options; AWX adds :z (shared SELinux label) where the entry names none.
    mounts = [f"{source}:{dest}:{option or 'z'}"
              for source, dest, option in map(awx_pod.isolation_path, target.isolation_paths)]
    return {"process_isolation": True, "process_isolation_executable": "podman",
            "container_image": target.image,
            "container_options": ["--user=root", *target.run_options, f"--pull={target.pull}"],
            "container_volume_mounts": mounts}


def run_job(target: Target, job: Job, path: str, job_id: int | None = None) -> Outcome:
    job_id = job_id if job_id is not None else uuid.uuid4().int % 1_000_000
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"ee-builder-verify-{job_id}-") as private:
        _private_data_dir(Path(private), job)
        worktype = target.container_worktype if path == CONTAINER_GROUP else target.node_worktype
        params = receptor_params(target, path, job_id, f"{private}-node")
        kwargs = {"private_data_dir": private, "playbook": "site.yml", **runner_kwargs(target, path)}
        unit, events, status, code, explanation = _through_receptor(target.control, worktype, params, kwargs)
        state, tail = _unit_state(target.control, unit)
        _release(target.control, unit)
    stdout = "\n".join(event.get("stdout", "") for event in events)
    detail = f"{state.get('StateName', '?')}: {state.get('Detail', '')}"
    if status != job.expect and explanation:  # what AWX shows as the job's explanation
        detail += f"; ansible-runner: {explanation}"
    if status != job.expect and state.get("StateName") == "Failed" and tail:
        detail += f"; last output: {tail}"
    missing = [text for text in job.must_show if text not in stdout]
    if missing and status == job.expect:
        detail += f"; events lack {missing}"
    rc_ok = job.expect != "failed" or code not in (None, 0)  # a failed play must say so in its rc too
    return Outcome(job.name, path, status, code, len(events), round(time.monotonic() - started, 1), detail,
                   passed=status == job.expect and not missing and rc_ok, unit=unit,
                   counters=[event.get("counter") for event in events], stdout_bytes=state.get("StdoutSize") or 0,
                   stream_seconds=round(events[-1]["at"] - events[0]["at"], 3) if events else 0.0)


def _private_data_dir(private: Path, job: Job) -> None:
    for name in ("project", "inventory", "env"):
        (private / name).mkdir()
    (private / "project" / "site.yml").write_text(job.playbook)
    (private / "inventory" / "hosts").write_text(job.inventory)
    if job.extravars:
        (private / "env" / "extravars").write_text(yaml.safe_dump(job.extravars))


def _through_receptor(control: Path, worktype: str, params: dict[str, str],
                      kwargs: dict[str, Any]) -> tuple[str, list[dict], str, int | None, str]:
    sockin, sockout = socket.socketpair()
    transmit_error: list[BaseException] = []

    def transmit() -> None:
        try:
            with sockin.makefile("wb") as out:
                ansible_runner.interface.run(streamer="transmit", _output=out, quiet=True, **kwargs)
        except BaseException as err:  # reported after the submit, as AWX's transmitter_future.result()
            transmit_error.append(err)
        finally:
            sockin.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=transmit, daemon=True)
    sender.start()
    try:
        with sockout.makefile("rb") as payload:
            unit = _control(control).submit_work(worktype=worktype, payload=payload, params=params)["unitid"]
    except RuntimeError as err:
        raise UserError(f"receptor at {control} refused the work ({worktype}): {err}") from None
    finally:
        sender.join(timeout=120)
        sockin.close()
        sockout.close()
    if transmit_error:
        raise UserError(f"ansible-runner transmit failed: {transmit_error[0]}")
    resultsock, resultfile = _control(control).get_work_results(unit, return_socket=True, return_sockfile=True)
    events: list[dict] = []
    explained: list[str] = []  # process's own job_explanation (a broken or truncated results stream)

    def explain(data: dict, runner_config: Any = None) -> None:
        if data.get("job_explanation"):
            explained.append(str(data["job_explanation"]))

    def keep(event: dict) -> bool:
        # Only what the outcome needs, and False: not written to disk, as AWX's RunnerCallback
        # (a job of 100,000 events would otherwise hold them all and write a file for each).
        events.append({"counter": event.get("counter"), "stdout": event.get("stdout", ""), "at": time.monotonic()})
        return False

    processed_all = threading.Event()

    def end_when_canceled() -> None:
        # receptor v1.4.x keeps the results stream of a canceled unit open (AWX, which cancels its
        # own jobs, shuts the socket down itself): a unit canceled from outside would hang the job.
        while not processed_all.wait(1):
            try:
                state = _control(control).simple_command(f"work status {unit}")
            except (RuntimeError, OSError, ValueError, UserError):
                continue
            if state.get("StateName") == "Canceled":
                try:
                    resultsock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return

    threading.Thread(target=end_when_canceled, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="ee-builder-verify-process-") as processed:
            result = ansible_runner.interface.run(
                streamer="process", quiet=True, _input=resultfile, private_data_dir=processed,
                event_handler=keep, status_handler=explain)
            status, code = result.status, result.rc
            rc_file = Path(processed, "artifacts", "rc")  # process mode leaves it in the worker's artifacts
            if code is None and rc_file.is_file() and rc_file.read_text().strip().lstrip("-").isdigit():
                code = int(rc_file.read_text())
    finally:
        processed_all.set()
        resultsock.close()
    return unit, events, status, code, explained[-1] if explained else ""


def _unit_state(control: Path, unit: str, timeout: float = 60) -> tuple[dict, str]:
    """The unit's status once it left Pending/Running (process can return at the stream's eof
    before the worker exits), and the last bytes of its results when it failed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = _control(control).simple_command(f"work status {unit}")
        except RuntimeError as err:
            if "Failed to connect" not in str(err):  # receptor's answer, e.g. "unknown work unit <id>"
                return {"StateName": "?", "Detail": f"work status: {err}"}, ""
            state = {"StateName": "?", "Detail": f"receptor unreachable at {control}: {err}"}
        except (OSError, ValueError, UserError) as err:
            # The node stopped or is restarting (AWX logs it and goes on); a restarted receptor
            # resumes the unit, so ask again until the deadline.
            state = {"StateName": "?", "Detail": f"receptor unreachable at {control}: {err}"}
        if state.get("State", 0) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    tail = ""
    if state.get("StateName") == "Failed":
        try:
            results = _control(control).get_work_results(unit, return_sockfile=True)
            tail = results.read()[-FAILED_TAIL:].decode(errors="replace").strip()
        except (RuntimeError, OSError, ValueError, UserError):
            pass  # the Detail says enough
    return state, tail


def _release(control: Path, unit: str) -> None:
    try:
        _control(control).simple_command(f"work release {unit}")
    except (RuntimeError, OSError, ValueError, UserError):
        pass  # already gone (or the node with it): nothing left to clean here


def _control(control: Path) -> ReceptorControl:
    """A fresh connection: submit_work and get_work_results use theirs up."""
    try:
        return ReceptorControl(str(control))
    except (OSError, ValueError) as err:
        raise UserError(f"{control}: cannot talk to receptor's control socket: {err}. Expected the socket of a "
                        f"running receptor node (--receptor-socket).") from None


def node_entries() -> list[dict[str, Any]]:
    """The receptor node verify starts when it is given none: AWX's control node (its container-group
    work types) plus an execution node's ``ansible-runner`` work type, both on this host."""
    entries = rc.compose(rc.NodeSpec("ee-builder-verify", "control", bundle=False))
    runner = Path(sys.executable).with_name("ansible-runner")  # ee-builder's own, next to its Python
    return entries + [{"work-command": {"worktype": "ansible-runner", "command": str(runner), "params": "worker",
                                        "allowruntimeparams": True}}]


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    return {"passed": all(o.passed for o in outcomes),
            "jobs": [{k: v for k, v in asdict(o).items() if k != "counters"} for o in outcomes]}


def write_report(outcomes: list[Outcome], path: Path) -> None:
    path.write_text(json.dumps(report(outcomes), indent=2) + "\n")


# The Windows suite (issue 15) ---------------------------------------------------------------------
# Jobs against a Windows host over WinRM with Kerberos, with the inventory AWX gives such a job
# (a machine credential's user@REALM and password as connection variables). Not in SUITES: it
# needs a host, a user and a password, which the CLI takes from --windows-host, --windows-user and
# the environment variable --windows-password-env names. The password goes into the job's
# inventory only; run_windows masks it in everything verify says.

WINDOWS = "windows"
WINRM_HTTP, WINRM_HTTPS = 5985, 5986
CERT_VALIDATION = ("validate", "ignore")


@dataclass(frozen=True)
class WindowsHost:
    """A Windows host as the job's inventory and AWX's machine credential name it."""
    host: str                                    # FQDN: the service ticket is for HTTP/<host>
    user: str                                    # user@REALM, the realm upper case
    password: str = field(repr=False)
    cert_validation: str = "validate"            # ansible_winrm_server_cert_validation on 5986


def windows_host(host: str | None, user: str | None, password_env: str, cert_validation: str) -> WindowsHost:
    """The Windows host from the CLI's options; the password from the environment, never an argument."""
    if not (host and user):
        raise UserError("the windows suite needs --windows-host (the host's FQDN) and --windows-user "
                        "(user@REALM), with the password in the environment variable --windows-password-env "
                        f"names ({password_env}).")
    if not os.environ.get(password_env):
        raise UserError(f"the windows suite takes {user}'s password from the environment variable {password_env} "
                        f"(--windows-password-env), which is not set. Expected it set, e.g. `read -rs "
                        f"{password_env}; export {password_env}`.")
    return WindowsHost(host, user, os.environ[password_env], cert_validation)


def windows_inventory(win: WindowsHost, port: int = WINRM_HTTP, **variables: Any) -> str:
    """The inventory (YAML) of one Windows host, group ``windows``: winrm, Kerberos, the port's
    scheme, user and password; ``variables`` add or override (None removes). Values are
    ``!unsafe``: a password with ``{{`` is a password, not a template."""
    values: dict[str, Any] = {
        "ansible_connection": "winrm", "ansible_winrm_transport": "kerberos", "ansible_port": port,
        "ansible_winrm_scheme": "http" if port == WINRM_HTTP else "https",
        "ansible_user": yamlfile.Unsafe(win.user), "ansible_password": yamlfile.Unsafe(win.password)}
    if port != WINRM_HTTP:
        values["ansible_winrm_server_cert_validation"] = win.cert_validation
    values.update(variables)
    values = {key: value for key, value in values.items() if value is not None}
    return yamlfile.dump({"windows": {"hosts": {win.host: None}, "vars": values}})


def windows_jobs(win: WindowsHost) -> tuple[Job, ...]:
    """win_ping (the module bootstrap) over HTTP with message encryption and Ansible's managed kinit;
    a command over HTTPS; and win_ping after a kinit the job runs itself (manual kinit mode, the
    ticket in the FILE cache krb5.conf names)."""
    ping = ("    - ansible.windows.win_ping:\n        data: \"{{ ping_data }}\"\n      register: ping\n"
            "    - ansible.builtin.debug:\n        msg: \"win_ping={{ ping.ping }}\"\n")
    kinit = ("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
             "    - name: kinit in the job's container, before any connection to Windows\n"
             "      ansible.builtin.command:\n"
             "        argv: [kinit, \"{{ hostvars[groups.windows[0]].ansible_user }}\"]\n"
             "        stdin: \"{{ hostvars[groups.windows[0]].verify_kinit_password }}\"\n"
             "      no_log: true\n      changed_when: false\n"
             "    - ansible.builtin.command: klist\n      register: klist\n      changed_when: false\n"
             "    - ansible.builtin.debug:\n        msg: \"{{ klist.stdout_lines[0] }}\"\n")
    return (
        Job("win_ping (http 5985, managed kinit)", _play(ping), inventory=windows_inventory(win),
            extravars={"ping_data": "verify"}, must_show=("win_ping=verify",)),
        Job("command (https 5986)",
            _play("    - ansible.builtin.raw: whoami\n      register: who\n      changed_when: false\n"
                  "    - ansible.builtin.debug:\n        msg: \"whoami={{ who.stdout | trim }}\"\n"),
            inventory=windows_inventory(win, WINRM_HTTPS), must_show=("whoami=",)),
        Job("win_ping after kinit (manual kinit)", kinit + _play(ping).replace("hosts: all", "hosts: windows"),
            inventory=windows_inventory(win, ansible_password=None, ansible_winrm_kinit_mode="manual",
                                        verify_kinit_password=yamlfile.Unsafe(win.password)),
            extravars={"ping_data": "kinit-first"}, must_show=("Ticket cache: FILE:", "win_ping=kinit-first")),
    )


class _Masked:
    """Progress that never says the secrets."""
    def __init__(self, progress: Progress, known: tuple[str, ...]):
        self.progress, self.known = progress, known

    def say(self, message: str) -> None:
        self.progress.say(masking.mask(message, self.known))


def run_windows(target: Target, win: WindowsHost, paths: tuple[str, ...], progress: Progress) -> list[Outcome]:
    """The Windows suite on ``paths``, the password masked in progress and outcomes (the details
    carry a failed unit's last output)."""
    known = (win.password,)
    outcomes = run_suite(target, windows_jobs(win), paths, _Masked(progress, known))
    for outcome in outcomes:
        outcome.detail = masking.mask(outcome.detail, known)
    return outcomes
