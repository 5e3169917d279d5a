"""What the build refuses to tag: images whose Kerberos stack would fail only against Windows."""
from __future__ import annotations

from builder.features.kerberos import checks


def problems(*args) -> list[str]:
    return [check.detail for check in checks(*args) if not check.ok]


def test_complete_stack_passes():
    assert problems("/usr/bin/kinit", True, True) == []


def test_missing_kinit_is_named():
    [problem] = problems(None, True)
    assert problem.startswith("kinit is missing")


def test_binding_without_winrm_encryption_is_named():
    [problem] = problems("/usr/bin/kinit", False)
    assert "authGSSWinRMEncryptMessage" in problem and "MIT krb5" in problem


def test_missing_binding_is_named():
    [problem] = problems("/usr/bin/kinit", None)
    assert "cannot import 'kerberos'" in problem


def test_krb5_conf_mit_cannot_read_is_named():
    [problem] = problems("/usr/bin/kinit", True, True, "klist: Improper format of Kerberos configuration file")
    assert problem.startswith("MIT krb5 cannot read /etc/krb5.conf (klist: Improper format")
