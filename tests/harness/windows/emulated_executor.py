"""EMULATED Windows command executor: what the WinRM test server answers instead of PowerShell.

No PowerShell exists on our machines, so the target cannot run what Ansible sends. This module
answers a small documented set of scripts and fails loudly on anything else, so a test can never
pass on a script the emulation does not understand:

- ``Write-Output <words>`` / ``echo <words>``: the words, one line;
- ``hostname``: the target's short host name, upper case as Windows prints it;
- ``whoami``: the Kerberos principal that authenticated this connection;
- Ansible's module bootstrap (``bootstrap_wrapper.ps1`` with the exec manifest on stdin) running
  ``win_ping``: the module's JSON result, built from the module arguments that arrived.

What this cannot prove: that PowerShell runs, module behaviour, PowerShell versions, become, async.
"""
from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass, field
from typing import Any

# A line of bootstrap_wrapper.ps1 (ansible-core 2.19) that no hand-written command contains.
BOOTSTRAP_MARKER = "$codeJson = foreach ($in in $input)"
# Script names as 2.19 sends them: ansible_collections.ansible.windows.plugins.modules.win_ping.ps1
PING_MODULE = "win_ping"


@dataclass
class Result:
    rc: int
    stdout: bytes = b""
    stderr: bytes = b""
    module: str | None = None                       # the module a bootstrap ran, e.g. win_ping.ps1
    module_args: dict[str, Any] = field(default_factory=dict)


def decode_command(command: str, arguments: list[str]) -> str:
    """The script a WinRS command carries: ``PowerShell … -EncodedCommand <base64 UTF-16LE>``."""
    # pywinrm sends the arguments as one space-joined rsp:Arguments element.
    arguments = " ".join(arguments).split()
    for flag, value in zip(arguments, arguments[1:]):
        if flag.lower() in ("-encodedcommand", "-enc", "-e"):
            return base64.b64decode(value).decode("utf-16-le")
    return " ".join([command, *arguments])


def run(script: str, stdin: bytes, principal: str, hostname: str) -> Result:
    if BOOTSTRAP_MARKER in script:
        return _bootstrap(stdin)
    output = []
    for line in (raw.strip() for raw in script.splitlines()):
        if not line:
            continue
        words = shlex.split(line, posix=True)
        verb = words[0].lower()
        if verb in ("write-output", "echo"):
            output.append(" ".join(words[1:]))
        elif verb == "hostname" and len(words) == 1:
            output.append(hostname.split(".")[0].upper())
        elif verb == "whoami" and len(words) == 1:
            output.append(principal)
        else:
            return _unsupported(f"line {line!r}")
    return Result(0, "".join(f"{text}\r\n" for text in output).encode())


def _bootstrap(stdin: bytes) -> Result:
    """stdin: the exec_wrapper JSON, a line of four NULs, then the exec manifest JSON."""
    try:
        _, manifest_text = stdin.decode("utf-8").split("\n\0\0\0\0\n", 1)
        manifest = json.loads(manifest_text)
        action = next(a for a in manifest["actions"] if a["name"] == "module_wrapper.ps1")
        module = action["params"]["Script"]
        args = next((v["Value"] for v in action["params"].get("Variables", []) if v["Name"] == "complex_args"), {})
    except (ValueError, KeyError, StopIteration) as err:
        return _unsupported(f"a module bootstrap whose stdin is not an exec manifest ({err})")
    if module.removesuffix(".ps1").rsplit(".", 1)[-1] != PING_MODULE:
        return _unsupported(f"module {module}")
    data = args.get("data", "pong")
    if data == "crash":  # win_ping's own way to test failure handling
        return Result(1, json.dumps({"failed": True, "msg": "boom", "exception": "Exception: boom"}).encode(),
                      module=module, module_args=args)
    result = {"changed": False, "ping": data, "invocation": {"module_args": {"data": data}}}
    return Result(0, json.dumps(result).encode(), module=module, module_args=args)


def _unsupported(what: str) -> Result:
    message = (f"ee-builder WinRM test target: the EMULATED executor cannot run {what}. It answers only "
               f"Write-Output/echo, hostname, whoami and win_ping (see tests/harness/windows/emulated_executor.py).")
    return Result(1, stderr=message.encode())
