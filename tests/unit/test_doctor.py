"""doctor's mapping from what the tools printed to the cause and the fix, and its names probe's pure
parts (where a name comes from: DNS or /etc/hosts as hostAliases write it; DNS messages)."""
from __future__ import annotations

import pytest

from builder.doctor import Diagnosis, Check, diagnose, diagnosis_without_secret, name_source
from builder.probes import names

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


# Where names come from: DNS or /etc/hosts (hostAliases) ------------------------------------------


def test_name_via_hosts_file_is_reported_as_host_aliases_and_dns_is_not_asked():
    hosts = names.hosts_file("127.0.0.1 localhost\n# Entries added by HostAliases.\n10.0.0.5\twinhost.corp.test dc1.corp.test\n")
    rc, text = names.name_source("WinHost.corp.test", hosts, None)
    assert rc == 0 and text == "WinHost.corp.test -> 10.0.0.5 via /etc/hosts (hostAliases); DNS not consulted (files come first)"
    [check] = diagnose([{"check": "name source winhost.corp.test", "rc": rc, "output": text}]).checks
    assert check.ok and name_source(check) == "hosts"


def test_name_via_dns_names_the_nameserver():
    rc, text = names.name_source("winhost.corp.test", {}, ("10.96.0.10", "NOERROR", ["10.0.0.5"]))
    [check] = diagnose([{"check": "name source winhost.corp.test", "rc": rc, "output": text}]).checks
    assert check.ok and name_source(check) == "dns" and "nameserver 10.96.0.10" in check.detail


@pytest.mark.parametrize("dns, says", [
    (("10.96.0.10", "NXDOMAIN", []), "DNS (nameserver 10.96.0.10) answers NXDOMAIN"),
    ((None, "nameserver 10.96.0.10: timed out", []), "no DNS answer (nameserver 10.96.0.10: timed out)"),
])
def test_name_resolving_neither_way_names_both_fixes(dns, says):
    rc, text = names.name_source("winhost.corp.test", {}, dns)
    [check] = diagnose([{"check": "name source winhost.corp.test", "rc": rc, "output": text}]).checks
    assert not check.ok and says in check.detail and name_source(check) is None
    assert "neither through /etc/hosts (hostAliases) nor DNS" in check.cause
    assert "conditional forwarder for corp.test" in check.fix and "hostAliases for winhost.corp.test" in check.fix


def test_kdc_srv_records_only_fail_when_krb5_conf_names_no_kdc():
    found = names.srv_report("CORP.TEST", ("10.96.0.10", "NOERROR", ["0 100 88 dc1.corp.test"]), [], True)
    missing_but_named = names.srv_report("CORP.TEST", ("10.96.0.10", "NXDOMAIN", []), ["dc1.corp.test"], True)
    missing = names.srv_report("CORP.TEST", ("10.96.0.10", "NXDOMAIN", []), [], True)
    checks = diagnose([{"check": "KDC SRV CORP.TEST", "rc": rc, "output": text}
                       for rc, text in (found, missing_but_named, missing)]).checks
    assert [c.ok for c in checks] == [True, True, False]
    assert "_kerberos._tcp.corp.test -> 0 100 88 dc1.corp.test via DNS" in checks[0].detail
    assert "kdc = " in checks[2].fix and "conditional forwarder for corp.test" in checks[2].fix


def test_krb5_conf_facts():
    realm, kdcs, lookup = names.krb5_facts(
        "[libdefaults]\n default_realm = CORP.TEST\n dns_lookup_kdc = true # AD\n[realms]\n CORP.TEST = {\n"
        "  kdc = dc1.corp.test:88\n  kdc = dc2.corp.test\n  kdc = [fd00::5]:88\n }\n")
    assert (realm, kdcs, lookup) == ("CORP.TEST", ["dc1.corp.test", "dc2.corp.test", "fd00::5"], True)
    assert names.nameservers("search x\nnameserver 10.96.0.10\noptions ndots:5\n") == ["10.96.0.10"]


def test_dns_messages_round_trip_with_compression():
    query = names.encode_query("_kerberos._tcp.corp.test", "SRV", ident=7)
    assert query[:2] == b"\x00\x07" and b"\x09_kerberos\x04_tcp\x04corp\x04test\x00\x00\x21\x00\x01" in query
    # The answer a DC gives: the question echoed, then an SRV record whose owner points back at it.
    answer = bytearray(query)
    answer[2:4], answer[6:8] = b"\x85\x80", b"\x00\x01"
    target = b"\x03dc1\xc0\x1b"   # dc1 + pointer to "corp.test" (offset 27) in the question
    answer += b"\xc0\x0c\x00\x21\x00\x01\x00\x00\x03\x84" + len(b"\0\0\0d\0X" + target).to_bytes(2, "big")
    answer += b"\0\0\0d\0X" + target
    assert names.parse_response(bytes(answer), 7) == ("NOERROR", False, [("SRV", "0 100 88 dc1.corp.test")])
    nxdomain = bytearray(query)
    nxdomain[2:4] = b"\x81\x83"
    assert names.parse_response(bytes(nxdomain)) == ("NXDOMAIN", False, [])
    with pytest.raises(ValueError):
        names.parse_response(bytes(nxdomain), 8)
