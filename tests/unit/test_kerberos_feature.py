"""What the build refuses to tag: images whose Kerberos stack would fail only against Windows."""
from __future__ import annotations

from builder.features.kerberos import verify


def test_complete_stack_passes():
    assert verify("/usr/bin/kinit", True) == []


def test_missing_kinit_is_named():
    [problem] = verify(None, True)
    assert problem.startswith("kinit is missing")


def test_binding_without_winrm_encryption_is_named():
    [problem] = verify("/usr/bin/kinit", False)
    assert "authGSSWinRMEncryptMessage" in problem and "MIT krb5" in problem


def test_missing_binding_is_named():
    [problem] = verify("/usr/bin/kinit", None)
    assert "cannot import 'kerberos'" in problem
