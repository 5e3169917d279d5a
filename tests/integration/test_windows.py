"""Kerberos to Windows from inside the image `make build` produces: Ansible's winrm connection,
managed and manual kinit, message encryption, HTTPS, and the failures users meet in production.

The target is a real MIT KDC and our WinRM server on loopback, whose command executor is an
EMULATION (no PowerShell here): the tests named ``emulated`` assert what the server received and
are skipped against a real Windows host (``WINRM_TEST_*``, see the README).
"""
from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest
import yaml

from builder.settings import Realm
from tests.harness.windows.target import PLAYBOOKS, EmulatedTarget, Target
from tests.helpers import ee_builder, project_settings, project_with, rendered


@dataclasses.dataclass
class Run:
    rc: int
    output: str
    events: list[dict]


def play(engine, image: str, target: Target, tmp_path: Path, inventory: dict, *, krb5_conf: str | None = None,
         before: str = "", playbook: str = "ping.yml", extra: str = "") -> Run:
    """Run a playbook in a container of ``image`` on the host network, as a job would."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    mounts = {str(PLAYBOOKS): "/runner/project", str(tmp_path / "inventory.yml"): "/runner/inventory/hosts.yml"}
    if krb5_conf is None and not target.emulated:
        krb5_conf = rendered(target)  # a real host's realm is not the one baked for the tests
    if krb5_conf is not None:
        (tmp_path / "krb5.conf").write_text(krb5_conf)
        mounts[str(tmp_path / "krb5.conf")] = "/etc/krb5.conf"
    if target.ca:
        mounts[str(target.ca)] = "/runner/ca.pem"
    start = len(target.events())
    script = f"{before}\nansible-playbook -i /runner/inventory/hosts.yml /runner/project/{playbook} {extra}"
    rc, output = engine.run(image, ["bash", "-c", script], network="host", hosts=target.hosts, mounts=mounts,
                            environment={"HOME": "/tmp", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
                            timeout=600)
    return Run(rc, output, target.events()[start:])


def test_raw_and_win_ping_with_managed_kinit_and_baked_krb5_conf(engine, built, windows, tmp_path):
    run = play(engine, built.image, windows, tmp_path, windows.inventory())
    assert run.rc == 0, run.output
    assert f"whoami={windows.user}" in run.output if windows.emulated else "whoami=" in run.output
    assert "ping=pong" in run.output


def test_emulated_target_saw_encrypted_bodies_from_the_user_principal(engine, built, emulated, tmp_path):
    run = play(engine, built.image, emulated, tmp_path, emulated.inventory(), extra="-e ping_data=kerberos")
    assert run.rc == 0, run.output
    operations = [e for e in run.events if e["event"] == "operation"]
    assert {e["action"] for e in operations} >= {"Create", "Command", "Send", "Receive", "Signal", "Delete"}
    assert all(e["encrypted"] for e in operations), operations
    assert {e["principal"] for e in operations} == {emulated.user}
    assert not [e for e in run.events if e["event"] in ("plaintext-refused", "decrypt-failed", "auth-failed")]
    commands = [e for e in run.events if e["event"] == "command"]
    assert commands[0]["script"] == "whoami"  # raw: PowerShell -EncodedCommand, decoded
    assert commands[1]["module"].endswith("win_ping.ps1") and commands[1]["module_args"]["data"] == "kerberos"


def test_krb5_conf_from_the_configmap_mounted_as_the_pod_spec_says(engine, built, emulated, tmp_path):
    """The ConfigMap and pod spec `ee-builder krb5 render` emits, applied as a kubelet would: the
    ConfigMap's key mounted at the container's mountPath. The KDC goes by a name only that file
    knows and the baked file's KDC name does not resolve, so the job works only if the mount is read."""
    settings = project_settings("localhost/ee-builder-test-krb5").replace(
        f"kdcs: [{emulated.kdc}]", "kdcs: [dc2.example.test]")
    project = project_with(tmp_path / "project", settings)
    outputs = {}
    for fmt in ("configmap", "pod-spec"):
        result = ee_builder("krb5", "render", "--format", fmt, cwd=project)
        assert result.returncode == 0, result.stderr
        outputs[fmt] = yaml.safe_load(result.stdout)
    [mount] = outputs["pod-spec"]["spec"]["containers"][0]["volumeMounts"]
    assert mount["mountPath"] == "/etc/krb5.conf"
    conf = outputs["configmap"]["data"][mount["subPath"]]
    assert "kdc = dc2.example.test" in conf

    hosts = {name: address for name, address in emulated.hosts.items() if name != emulated.kdc}
    target = dataclasses.replace(emulated, hosts={**hosts, "dc2.example.test": emulated.hosts[emulated.kdc]})
    mounted = play(engine, built.image, target, tmp_path / "mounted", target.inventory(), krb5_conf=conf)
    assert mounted.rc == 0, mounted.output
    baked = play(engine, built.image, target, tmp_path / "baked", target.inventory())
    assert baked.rc != 0 and "Cannot contact any KDC" in baked.output, baked.output


def test_delegation_reaches_the_target(engine, built, emulated, tmp_path):
    run = play(engine, built.image, emulated, tmp_path, emulated.inventory(ansible_winrm_kerberos_delegation=True))
    assert run.rc == 0, run.output
    # Ansible connects once per task: both connections delegated, and neither without the option.
    assert [e["delegated"] for e in run.events if e["event"] == "authenticated"] == [True, True]
    without = play(engine, built.image, emulated, tmp_path / "without", emulated.inventory())
    assert [e["delegated"] for e in without.events if e["event"] == "authenticated"] == [False, False]


def test_manual_kinit_with_file_cache(engine, built, windows, tmp_path):
    inventory = windows.inventory(ansible_password=None, ansible_winrm_kinit_mode="manual")
    run = play(engine, built.image, windows, tmp_path, inventory,
               before=f"echo '{windows.password}' | kinit {windows.user} >/dev/null && klist | grep -q 'FILE:/tmp/krb5cc_'")
    assert run.rc == 0, run.output


def test_https_with_validation_ignored_and_with_the_ca(engine, built, windows, tmp_path):
    ignored = play(engine, built.image, windows, tmp_path, windows.inventory(
        https=True, ansible_winrm_server_cert_validation="ignore"))
    assert ignored.rc == 0, ignored.output
    if windows.ca is None:
        pytest.skip("the real host's CA is not given (WINRM_TEST_CA)")
    validated = play(engine, built.image, windows, tmp_path / "ca", windows.inventory(
        https=True, ansible_winrm_ca_trust_path="/runner/ca.pem"))
    assert validated.rc == 0, validated.output
    if windows.emulated:
        assert [e["tls"] for e in validated.events if e["event"] == "authenticated"] == [True, True]


# What users see when it goes wrong: each case asserts the error text Ansible shows them.

def test_host_given_by_ip_is_not_in_the_kerberos_database(engine, built, windows, tmp_path):
    address = windows.hosts.get(windows.hostname) or socket.gethostbyname(windows.hostname)
    run = play(engine, built.image, windows, tmp_path, windows.inventory(host=address))
    assert run.rc != 0
    assert f"Server HTTP/{address}@{windows.realm} not found in Kerberos database" in run.output, run.output


def test_lowercase_realm_has_no_kdc(engine, built, windows, tmp_path):
    user = windows.user.split("@")[0] + "@" + windows.realm.lower()
    run = play(engine, built.image, windows, tmp_path, windows.inventory(ansible_user=user))
    assert run.rc != 0
    assert f'Cannot find KDC for realm "{windows.realm.lower()}"' in run.output, run.output


def test_wrong_password(engine, built, windows, tmp_path):
    run = play(engine, built.image, windows, tmp_path, windows.inventory(ansible_password="not-the-password"))
    assert run.rc != 0
    assert "Password incorrect" in run.output, run.output


def test_unencrypted_messages_are_refused_over_http(engine, built, emulated, tmp_path):
    run = play(engine, built.image, emulated, tmp_path, emulated.inventory(ansible_winrm_message_encryption="never"))
    assert run.rc != 0
    assert "Bad HTTP response returned from server. Code 400" in run.output, run.output
    assert [e["event"] for e in run.events if e["event"] == "plaintext-refused"]


def test_keyring_ccache_fails_in_a_container(engine, built, windows, tmp_path):
    conf = rendered(windows, default_ccache_name="KEYRING:persistent:%{uid}")
    inventory = windows.inventory(ansible_password=None, ansible_winrm_kinit_mode="manual")
    run = play(engine, built.image, windows, tmp_path, inventory, krb5_conf=conf,
               before=f"echo '{windows.password}' | kinit {windows.user}; echo kinit-rc=$?")
    assert "kinit-rc=0" not in run.output and run.rc != 0, run.output
    assert "keyring" in run.output.lower(), run.output


def test_kdc_unreachable(engine, built, windows, tmp_path):
    conf = rendered(windows, realms={windows.realm: Realm(kdcs=("127.0.0.1:9",))})
    run = play(engine, built.image, windows, tmp_path, windows.inventory(), krb5_conf=conf)
    assert run.rc != 0
    assert f"Cannot contact any KDC for realm '{windows.realm}'" in run.output, run.output


def test_clock_skew_beyond_the_kdc_limit(engine, built, tmp_path):
    # A second realm whose KDC runs an hour ahead (krb5kdc -T), on its own ports. MIT clients
    # correct the skew themselves (kdc_timesync, on by default); users who meet this error have it
    # off or use another client, so this krb5.conf turns it off.
    with EmulatedTarget(tmp_path / "skewed", kdc_port=10088, http_port=15985, https_port=15986,
                        kdc_time_offset=3600) as skewed:
        conf = rendered(skewed)
        conf = conf.replace("[libdefaults]\n", "[libdefaults]\n    kdc_timesync = 0\n")
        run = play(engine, built.image, skewed, tmp_path, skewed.inventory(ansible_winrm_scheme="http"), krb5_conf=conf)
    assert run.rc != 0
    assert "Clock skew too great" in run.output, run.output


def test_image_built_without_the_kerberos_feature_has_no_kinit(engine, built, windows, tmp_path):
    image = "localhost/ee-builder-test-no-kerberos"
    settings = project_settings(image)
    project = project_with(tmp_path / "project", settings[:settings.index("\nkerberos:")] + "\n")
    try:
        result = ee_builder("build", cwd=project)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        run = play(engine, f"{image}:latest", windows, tmp_path, windows.inventory())
        assert run.rc != 0
        assert "Kerberos auth failure when calling kinit cmd 'kinit': [Errno 2] No such file or directory" in run.output, \
            run.output
    finally:
        engine.remove(f"{image}:latest")


def test_samba_ad_dc(engine, built, tmp_path):
    """AD-shaped KDC: the HTTP service ticket is RC4 (the service account has no AES keys), user
    names are case-insensitive, UPN logins work; the same playbook passes."""
    with EmulatedTarget(tmp_path / "samba", kdc="samba", kdc_port=10088, http_port=15985, https_port=15986) as ad:
        conf = rendered(ad)
        user = ad.user.split("@")[0].upper() + "@" + ad.realm
        upn = ad.user.split("@")[0] + "@" + ad.realm.lower()  # AD's userPrincipalName, as people type it
        run = play(engine, built.image, ad, tmp_path, ad.inventory(ansible_user=user, ansible_winrm_scheme="http"),
                   krb5_conf=conf, before=f"echo '{ad.password}' | kinit -E {upn} >/dev/null && klist && kdestroy && "
                                         f"echo '{ad.password}' | kinit {user} >/dev/null && "
                                         f"kvno HTTP/{ad.hostname} && klist -e && kdestroy")
    assert run.rc == 0, run.output
    assert "ping=pong" in run.output
    # An enterprise (UPN) login: kinit -E got a TGT for the escaped enterprise name.
    assert "Default principal: " + upn.replace("@", "\\@") + "@" + ad.realm in run.output, run.output
    service_ticket = run.output[run.output.index(f"HTTP/{ad.hostname}@{ad.realm}\n"):]
    assert "arcfour-hmac" in service_ticket.splitlines()[1], run.output
    assert {e["principal"] for e in run.events if e["event"] == "authenticated"} == {user}
