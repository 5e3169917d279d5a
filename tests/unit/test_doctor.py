"""doctor's mapping from what the tools printed to the cause and the fix."""
from __future__ import annotations

import pytest

from builder.doctor import Diagnosis, Check, diagnose, diagnosis_without_secret

GOOD_CONF = ("[libdefaults]\n default_realm = CORP.TEST\n rdns = false\n"
             "[realms]\n CORP.TEST = {\n  kdc = dc1.corp.test\n }\n")


def failing(check: str, output: str) -> Check:
    [result] = diagnose([{"check": check, "rc": 1, "output": output}]).checks
    assert not result.ok
    return result


# Outputs as the tools print them (seen in the Windows integration tests and the issues cited).
@pytest.mark.parametrize("check, output, says", [
    ("kinit present", "kinit: command not found", "no Kerberos client"),
    ("kinit", "kinit: Cannot find KDC for realm \"corp.test\" while getting initial credentials", "lower case"),
    ("kinit", "kinit: Cannot find KDC for realm \"CORP.TEST\" while getting initial credentials", "does not know this realm"),
    ("kinit", "kinit: Cannot contact any KDC for realm 'CORP.TEST' while getting initial credentials", "KDC is unreachable"),
    ("kinit", "kinit: Clock skew too great while getting initial credentials", "clocks"),
    ("kinit", "kinit: Password incorrect while getting initial credentials", "wrong password"),
    ("kinit", "kinit: Client 'bob@CORP.TEST' not found in Kerberos database while getting initial credentials",
     "does not exist"),
    ("kinit", "kinit: Invalid UID in persistent keyring name while getting default ccache", "KEYRING"),
    ("kvno HTTP/10.0.0.5", "kvno: Server HTTP/10.0.0.5@CORP.TEST not found in Kerberos database", "by IP address"),
    ("kvno HTTP/web", "kvno: Server HTTP/web@CORP.TEST not found in Kerberos database", "no HTTP/<name> service"),
    ("win_ping", "Bad HTTP response returned from server. Code 400", "message encryption"),
    ("win_ping", "the specified credentials were rejected by the server", "Windows rejected"),
    ("win_ping", "HTTPConnectionPool(host='w', port=5985): Max retries exceeded (Connection refused)", "no WinRM listener"),
])
def test_known_failures_map_to_their_cause(check, output, says):
    result = failing(check, output)
    assert says in result.cause and result.fix


def test_unknown_failure_has_no_invented_cause():
    result = failing("win_ping", "something nobody has seen")
    assert result.cause is None and result.detail == "something nobody has seen"


def test_krb5_conf_pitfalls_fail_the_check_and_a_good_one_passes():
    [good] = diagnose([{"check": "krb5.conf", "rc": 0, "output": GOOD_CONF}]).checks
    assert good.ok
    keyring = GOOD_CONF.replace(" rdns = false\n", " rdns = false\n default_ccache_name = KEYRING:persistent:%{uid}\n")
    [bad] = diagnose([{"check": "krb5.conf", "rc": 0, "output": keyring}]).checks
    assert not bad.ok and "KEYRING" in bad.detail and "FILE:" in bad.fix


def test_clock_offset_fails_beyond_five_minutes():
    checks = diagnose([{"check": "clock offset to KDC", "rc": 0, "output": "+12s"},
                       {"check": "clock offset to KDC", "rc": 0, "output": "-3601s"}]).checks
    assert [c.ok for c in checks] == [True, False]
    assert "NTP" in checks[1].fix


def test_reverse_dns_mismatch_is_reported_not_failed():
    [check] = diagnose([{"check": "DNS reverse", "rc": 1, "output": "10.0.0.5: host not found"}]).checks
    assert check.ok


def test_password_never_reaches_the_report():
    diagnosis = Diagnosis([Check("kinit", False, "echoed S3cret-pw back")])
    assert diagnosis_without_secret(diagnosis, "S3cret-pw").checks[0].detail == "echoed ******** back"
