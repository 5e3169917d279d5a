"""`ee-builder verify --suite windows`: jobs against a Windows host over WinRM with Kerberos, run
the way AWX runs them (through receptor: the stand-in, or a real one by EE_RECEPTOR), with the
inventory AWX gives such a job (winrm, kerberos, user@REALM and the password as connection
variables; HTTP 5985 with message encryption, HTTPS 5986; managed kinit, and a kinit the job runs
itself).

The target is a Samba AD DC (KDC and its DNS zone) and our WinRM server with an EMULATED command
executor (tests/harness/windows/), on a bridge address pods and Podman containers reach. A job pod
finds the host and the KDC either by the hostAliases the container group's pod spec carries
(awx.container_group.host_aliases) or by the cluster DNS forwarding the realm's zone to the DC (no
hostAliases); krb5.conf comes from the krb5 ConfigMap in the namespace, rendered for the test
realm. On an execution node (Podman on this host) krb5.conf comes through an isolation path and
the names through DEFAULT_CONTAINER_RUN_OPTIONS' --add-host. The password is never on the command
line and never in what verify prints or writes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from builder import awx, awx_pod, settings, verify
from builder.probes.names import query
from tests.harness.windows.target import EmulatedTarget
from tests.helpers import IMAGE, ee_builder, project_settings, project_with, rendered

REALM, DOMAIN = "WINRM.TEST", "winrm.test"            # not the other tests' realm: no shared forward or names
WINHOST, KDC_HOST = f"winhost.{DOMAIN}", f"kdc.{DOMAIN}"
ADDRESS, INTERFACE = "10.254.253.1", "ee-win0"        # a bridge this module creates; pods and Podman reach it
NAMESPACE = "ee-verify-windows"
PASSWORD_ENV = "EE_VERIFY_WINDOWS_PASSWORD"
RUN_OPTIONS = ["--run-option=--ulimit=nofile=4096:4096", "--run-option=--ulimit=nproc=4096:4096"]
JOBS = ("win_ping (http 5985, managed kinit)", "command (https 5986)", "win_ping after kinit (manual kinit)")


@pytest.fixture(scope="module")
def ad(tmp_path_factory):
    with EmulatedTarget(tmp_path_factory.mktemp("ad"), realm=REALM, hostname=WINHOST, kdc_host=KDC_HOST,
                        address=ADDRESS, interface=INTERFACE, kdc="samba", dns_port=53) as target:
        yield target


@pytest.fixture(scope="module")
def krb5_namespace(cluster, ee_in_cluster, ad):
    """The namespace with the krb5 ConfigMap the override mounts, rendered for the test realm."""
    if cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", NAMESPACE)
    configmap = awx.krb5_configmap(rendered(ad), awx.DEFAULT_CONFIGMAP, NAMESPACE)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(configmap))
    return NAMESPACE






def windows_settings(host_aliases: bool) -> str:
    """The project's settings for the test realm: kerberos: (so the override mounts the ConfigMap),
    and the container group's host_aliases on the bridge address, or none."""
    text = project_settings("localhost/awx-ee-kerberos")
    aliases = "    host_aliases:                   # names DNS does not give the job pods (test realm: loopback)\n" \
              "      127.0.0.1: [winhost.example.test, kdc.example.test]\n"
    assert aliases in text
    text = text.replace(aliases, f"    host_aliases:\n      {ADDRESS}: [{WINHOST}, {KDC_HOST}]\n" if host_aliases else "")
    return text.replace("EXAMPLE.TEST", REALM).replace("example.test", DOMAIN)


def verify_windows(project: Path, verify_node, ad, *args: str, kubeconfig: Path | None = None):
    report = project / "report.json"
    where = ["--kubeconfig", str(kubeconfig), "--namespace", NAMESPACE] if kubeconfig else []
    result = ee_builder("verify", IMAGE, "--receptor-socket", str(verify_node.socket), *where, "--report", str(report),
                        "--suite", "windows", "--windows-host", WINHOST, "--windows-user", ad.user,
                        "--windows-password-env", PASSWORD_ENV, "--windows-cert-validation", "ignore", *args,
                        cwd=project, env={PASSWORD_ENV: ad.password, "COLUMNS": "200"})
    print(result.stdout, result.stderr)
    text = report.read_text() if report.exists() else ""
    # Never on the command line (there is no option for it), in the output or in the report.
    assert ad.password not in result.stdout + result.stderr + text
    return result, (json.loads(text) if text else None)


def assert_jobs_passed(result, report, path: str) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {(job["job"], job["path"]): job for job in report["jobs"]}
    assert set(jobs) == {(name, path) for name in JOBS}, jobs
    for job in jobs.values():
        assert job["passed"] and job["status"] == "successful" and job["rc"] == 0, job
    assert "3 jobs as expected" in result.stdout


def assert_kerberos_and_encrypted(events: list[dict], user: str) -> None:
    """What the emulated WinRM server saw of the three jobs: each connection Kerberos-authenticated as
    the user (HTTP, HTTPS, HTTP), every WS-Man body on HTTP encrypted with the Kerberos session
    (MS-WSMV message encryption) and the HTTPS one inside TLS; nothing refused; the scripts the
    jobs sent."""
    authenticated = [e for e in events if e["event"] == "authenticated"]
    assert [(e["principal"], e["tls"]) for e in authenticated] == [(user, False), (user, True), (user, False)], events
    tls, operations = False, []
    for event in events:
        if event["event"] == "authenticated":
            tls = event["tls"]
        elif event["event"] == "operation":
            assert event["principal"] == user and (event["encrypted"] or tls), event
            operations.append(event)
    assert {e["action"] for e in operations if e["encrypted"]} >= {"Create", "Command", "Send", "Receive",
                                                                    "Signal", "Delete"}
    assert not [e for e in events if e["event"] in ("plaintext-refused", "decrypt-failed", "auth-failed",
                                                    "bad-request")]
    commands = [e for e in events if e["event"] == "command"]
    assert [e["rc"] for e in commands] == [0, 0, 0], commands
    assert commands[0]["module"].endswith("win_ping.ps1") and commands[0]["module_args"]["data"] == "verify"
    assert commands[1]["script"] == "whoami"
    assert commands[2]["module"].endswith("win_ping.ps1") and commands[2]["module_args"]["data"] == "kinit-first"


def job_pod(project: Path) -> dict:
    """The pod AWX makes of the override verify uses for these settings."""
    loaded = settings.load(project / "ee-builder.yml")
    krb5_conf = "(any: with a kerberos: section the override mounts the ConfigMap)"
    return awx_pod.job_pod(awx.pod_spec_override(loaded, IMAGE, krb5_conf), awx_pod.AwxJob(image=IMAGE))


def test_windows_suite_in_a_pod_by_host_aliases(tmp_path, verify_node, cluster, krb5_namespace, ad):
    """No DNS for the realm: the names come from the hostAliases in the container group's pod spec."""
    assert query(cluster.dns, WINHOST, "A")[0] == "NXDOMAIN"
    project = project_with(tmp_path / "p", windows_settings(host_aliases=True))
    spec = job_pod(project)["spec"]
    assert spec["hostAliases"] == [{"ip": ADDRESS, "hostnames": [WINHOST, KDC_HOST]}]
    assert spec["volumes"][0]["configMap"]["name"] == awx.DEFAULT_CONFIGMAP
    start = len(ad.events())
    result, report = verify_windows(project, verify_node, ad, "--path", "container-group", kubeconfig=cluster.kubeconfig)
    assert_jobs_passed(result, report, "container-group")
    assert_kerberos_and_encrypted(ad.events()[start:], ad.user)


def test_windows_suite_in_a_pod_by_cluster_dns(tmp_path, verify_node, cluster, krb5_namespace, ad):
    """The AD shop's layout: the realm's zone forwarded to the DC by the cluster DNS, no hostAliases."""
    project = project_with(tmp_path / "p", windows_settings(host_aliases=False))
    assert "hostAliases" not in job_pod(project)["spec"]
    cluster.forward_zone(DOMAIN, f"{ADDRESS}:53")
    try:
        assert query(cluster.dns, WINHOST, "A") == ("NOERROR", [("A", ADDRESS)])
        start = len(ad.events())
        result, report = verify_windows(project, verify_node, ad, "--path", "container-group", kubeconfig=cluster.kubeconfig)
    finally:
        cluster.drop_zone(DOMAIN)
    assert_jobs_passed(result, report, "container-group")
    assert_kerberos_and_encrypted(ad.events()[start:], ad.user)


def test_windows_suite_on_an_execution_node(tmp_path, verify_node, ad, in_podman):
    """Podman on this host: krb5.conf through an isolation path (the image's baked one names another
    realm, so the jobs work only if the mount is read), the names through --add-host run options."""
    conf = tmp_path / "krb5.conf"
    conf.write_text(rendered(ad))
    project = project_with(tmp_path / "p", windows_settings(host_aliases=False))
    start = len(ad.events())
    result, report = verify_windows(project, verify_node, ad, "--path", "instance-group", *RUN_OPTIONS,
                                    f"--run-option=--add-host={WINHOST}:{ADDRESS}",
                                    f"--run-option=--add-host={KDC_HOST}:{ADDRESS}",
                                    "--isolation-path", f"{conf}:/etc/krb5.conf:ro")
    assert_jobs_passed(result, report, "instance-group")
    assert_kerberos_and_encrypted(ad.events()[start:], ad.user)


def test_windows_suite_wants_its_password_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    project = project_with(tmp_path, windows_settings(host_aliases=False))
    result = ee_builder("verify", IMAGE, "--path", "instance-group", "--suite", "windows", "--windows-host", WINHOST,
                        "--windows-user", f"ansible@{REALM}", cwd=project)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"password from the environment variable {PASSWORD_ENV} (--windows-password-env), which is not set" \
           in result.stderr
    result = ee_builder("verify", IMAGE, "--path", "instance-group", "--suite", "windows", cwd=project)
    assert result.returncode == 2 and "needs --windows-host" in result.stderr


def test_a_failed_jobs_output_never_says_the_password(monkeypatch):
    """A failed unit's last output goes into the detail: the password is masked there and in the
    progress lines, whatever the job printed."""
    win = verify.WindowsHost(WINHOST, f"ansible@{REALM}", "s3cret-{{pw}}", "ignore")

    def run_job(target, job, path):
        assert win.password in job.inventory and "!unsafe" in job.inventory
        return verify.Outcome(job.name, path, "failed", 2, 3, 0.1, f"Failed: exit status 2; last output: "
                              f"password={win.password} and {win.password}", passed=False)

    said = []
    monkeypatch.setattr(verify, "run_job", run_job)
    progress = type("Said", (), {"say": lambda self, message: said.append(message)})()
    outcomes = verify.run_windows(verify.Target(control=Path("/nonexistent"), image=IMAGE), win,
                                  (verify.INSTANCE_GROUP,), progress)
    assert [o.job for o in outcomes] == list(JOBS)
    assert all(win.password not in o.detail and "********" in o.detail for o in outcomes)
    assert said and not [line for line in said if win.password in line]
    assert win.password not in repr(win)
