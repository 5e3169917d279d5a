"""The Windows test target's pure parts: the EMULATED executor and real-host selection."""
from __future__ import annotations

import base64
import json

import pytest

from tests.harness.windows import TargetError, emulated_executor as executor
from tests.harness.windows.target import ENV_VARS, real_host_from_env


def encoded(script: str) -> list[str]:
    return ["-NoProfile", "-EncodedCommand " + base64.b64encode(script.encode("utf-16-le")).decode()]


def test_encoded_command_is_decoded_from_utf16():
    assert executor.decode_command("PowerShell", encoded("Write-Output 'ünïcode'")) == "Write-Output 'ünïcode'"


def test_known_commands_answer_and_whoami_is_the_authenticated_principal():
    result = executor.run("whoami\nhostname\nWrite-Output 'a b'\necho c", b"", "bob@CORP.TEST", "web01.corp.test")
    assert (result.rc, result.stdout) == (0, b"bob@CORP.TEST\r\nWEB01\r\na b\r\nc\r\n")


def test_anything_else_fails_loudly_naming_the_line():
    result = executor.run("Get-Service winrm", b"", "bob@CORP.TEST", "web01")
    assert result.rc == 1 and b"EMULATED executor cannot run line 'Get-Service winrm'" in result.stderr


def bootstrap(module: str, args: dict) -> bytes:
    manifest = {"actions": [{"name": "module_wrapper.ps1", "params": {
        "Script": module, "Variables": [{"Name": "complex_args", "Value": args, "Scope": "Global"}]}}]}
    return (json.dumps({"name": "exec_wrapper", "script": "...", "params": {}}) + "\n\0\0\0\0\n"
            + json.dumps(manifest)).encode()


def test_win_ping_answers_from_its_arguments():
    result = executor.run(executor.BOOTSTRAP_MARKER, bootstrap(
        "ansible_collections.ansible.windows.plugins.modules.win_ping.ps1", {"data": "hi"}), "bob@CORP.TEST", "w")
    assert result.rc == 0 and json.loads(result.stdout)["ping"] == "hi"
    assert result.module.endswith("win_ping.ps1") and result.module_args == {"data": "hi"}


def test_other_modules_fail_loudly():
    result = executor.run(executor.BOOTSTRAP_MARKER, bootstrap("ansible.windows.win_command.ps1", {}), "b", "w")
    assert result.rc == 1 and b"cannot run module ansible.windows.win_command.ps1" in result.stderr


def test_real_host_needs_every_variable(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    assert real_host_from_env() is None
    monkeypatch.setenv("WINRM_TEST_HOST", "web01.corp.test")
    with pytest.raises(TargetError, match="WINRM_TEST_USER, WINRM_TEST_PASSWORD, WINRM_TEST_REALM, WINRM_TEST_KDC not set"):
        real_host_from_env()
    for name, value in (("WINRM_TEST_USER", "bob"), ("WINRM_TEST_PASSWORD", "pw"), ("WINRM_TEST_REALM", "CORP.TEST"),
                        ("WINRM_TEST_KDC", "dc1.corp.test")):
        monkeypatch.setenv(name, value)
    target = real_host_from_env()
    assert (target.user, target.kdc, target.emulated) == ("bob@CORP.TEST", "dc1.corp.test", False)
