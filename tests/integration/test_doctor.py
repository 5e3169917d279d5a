"""`ee-builder doctor` from inside the built image: a healthy setup (its names from /etc/hosts, as
hostAliases give them), and three broken ones each named by its cause. Names by DNS through the
cluster's conditional forwarder: tests/integration/test_cluster_dns.py."""
from __future__ import annotations

import socket

from tests.helpers import ROOT, CliResult, ee_builder, rendered


def doctor(image: str, windows, tmp_path, *args: str, password: str | None = None) -> CliResult:
    password = windows.password if password is None else password
    if not windows.emulated and "--krb5-conf" not in args:  # a real host's realm is not the baked one
        (tmp_path / "real-krb5.conf").write_text(rendered(windows))
        args = (*args, "--krb5-conf", str(tmp_path / "real-krb5.conf"))
    hosts = [arg for name, address in windows.hosts.items() for arg in ("--add-host", f"{name}:{address}")]
    return ee_builder("doctor", image, "--user", windows.user, *hosts, *args, cwd=ROOT,
                      env={"EE_DOCTOR_PASSWORD": password, "COLUMNS": "200"})


def test_healthy_setup_passes_every_check(built, windows, tmp_path):
    result = doctor(built.image, windows, tmp_path, "--host", windows.hostname)
    assert result.returncode == 0, result.stdout + result.stderr
    for check in ("krb5.conf", "kinit present", "DNS forward", "kinit", "clock offset to KDC",
                  f"kvno HTTP/{windows.hostname}", "klist -e", "win_ping"):
        assert check in result.stdout
    assert "FAILED" not in result.stdout
    assert windows.password not in result.stdout + result.stderr
    if windows.hosts:  # given as --add-host, as hostAliases would: doctor says so (DNS cases: test_cluster_dns.py)
        assert f"name source {windows.hostname}" in result.stdout
        assert "via /etc/hosts (hostAliases)" in result.stdout, result.stdout


def test_host_by_ip_is_named_as_such(built, windows, tmp_path):
    address = windows.hosts.get(windows.hostname) or socket.gethostbyname(windows.hostname)
    result = doctor(built.image, windows, tmp_path, "--host", address)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"kvno HTTP/{address}: cause: the host is given by IP address" in result.stdout, result.stdout


def test_unreachable_kdc_is_named_as_such(built, windows, tmp_path):
    conf = tmp_path / "krb5.conf"
    conf.write_text(f"[libdefaults]\n default_realm = {windows.realm}\n rdns = false\n"
                    f"[realms]\n {windows.realm} = {{\n  kdc = 127.0.0.1:9\n }}\n")
    result = doctor(built.image, windows, tmp_path, "--host", windows.hostname, "--krb5-conf", str(conf))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "KDC 127.0.0.1:9 reachable" in result.stdout
    assert "kinit: cause: the KDC is unreachable from the job container" in result.stdout, result.stdout


def test_wrong_password_is_named_as_such(built, windows, tmp_path):
    result = doctor(built.image, windows, tmp_path, "--host", windows.hostname, password="not-the-password")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "kinit: cause: wrong password for the user" in result.stdout, result.stdout
