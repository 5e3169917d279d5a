"""A WinRM server for tests: HTTP Negotiate with a Kerberos acceptor (pyspnego, keytab for
``HTTP/<fqdn>``), mutual authentication, MS-WSMV message encryption (plaintext refused over HTTP
as Windows does with AllowUnencrypted=false), optional TLS, and the WinRS shell lifecycle (Create,
Command, Send, Receive, Signal, Delete, each answered with RelatesTo). Scripts go to the
EMULATED executor (``emulated_executor``); every decoded script is logged as a JSON line so
tests can assert what Ansible sent and who sent it.

Run: ``python -m tests.harness.windows.winrm_server --hostname winhost.example.test --port 5985
--log winrm.jsonl`` with ``KRB5_KTNAME`` naming the service keytab.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import ssl
import struct
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import spnego
from spnego.channel_bindings import GssChannelBindings

from . import emulated_executor

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL = NS["rsp"]
ENCRYPTED_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"


@dataclass
class Command:
    script: str
    stdin: bytearray = field(default_factory=bytearray)


@dataclass
class Shell:
    commands: dict[str, Command] = field(default_factory=dict)


class State:
    """What the server holds across connections: shells and the log."""

    def __init__(self, hostname: str, log: Path):
        self.hostname = hostname
        self.shells: dict[str, Shell] = {}
        self._log = log.open("a", buffering=1)
        self._lock = threading.Lock()

    def record(self, **event) -> None:
        with self._lock:
            self._log.write(json.dumps(event) + "\n")


class Handler(BaseHTTPRequestHandler):
    # Keep-alive: the Kerberos context, like Windows' HTTP.sys, belongs to the connection.
    protocol_version = "HTTP/1.1"
    server: "WinRMServer"

    def setup(self) -> None:
        super().setup()
        self.context: spnego.ContextProxy | None = None
        self.principal: str | None = None
        self.delegated = False

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the log is the JSON file
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply_token = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith(("Negotiate ", "Kerberos ")):
            try:
                reply_token = self._accept(base64.b64decode(auth.split(" ", 1)[1]))
            except spnego.exceptions.SpnegoError as err:
                self.server.state.record(event="auth-failed", error=str(err))
                return self._reply(401, b"", {"WWW-Authenticate": "Negotiate"})
        if self.context is None or not self.context.complete:
            return self._reply(401, b"", {"WWW-Authenticate": "Negotiate"})
        headers = {"WWW-Authenticate": "Negotiate " + base64.b64encode(reply_token).decode()} if reply_token else {}
        if not body:  # pywinrm's empty POST that completes authentication before encrypting
            return self._reply(200, b"", headers)
        content_type = self.headers.get("Content-Type", "")
        encrypted = ENCRYPTED_PROTOCOL in content_type
        if encrypted:
            try:
                body = self._decrypt(body)
            except (ValueError, spnego.exceptions.SpnegoError) as err:
                self.server.state.record(event="decrypt-failed", principal=self.principal, error=str(err))
                return self._reply(400, b"", headers)
        elif not self.server.tls:
            self.server.state.record(event="plaintext-refused", principal=self.principal)
            return self._reply(400, b"", headers)
        try:
            status, xml = self._operation(body, encrypted)
        except (ET.ParseError, AttributeError, KeyError) as err:  # not the WS-Man this server speaks
            self.server.state.record(event="bad-request", principal=self.principal, error=repr(err))
            status, xml = 400, b""
        encrypt = encrypted and bool(xml)
        self._reply(status, self._encrypt(xml) if encrypt else xml, headers, encrypt)

    def _accept(self, token: bytes) -> bytes | None:
        if self.context is None or self.context.complete:
            bindings = self.server.channel_bindings
            self.context = spnego.server(hostname=self.server.state.hostname, service="HTTP", protocol="negotiate",
                                         channel_bindings=bindings)
        out = self.context.step(token)
        if self.context.complete:
            self.principal = self.context.client_principal
            self.delegated = bool(self.context.context_attr & spnego.ContextReq.delegate)
            self.server.state.record(event="authenticated", principal=self.principal, delegated=self.delegated,
                                     tls=self.server.tls)
        return out

    def _decrypt(self, body: bytes) -> bytes:
        """MS-WSMV 2.2.9.1.2.2: per part, OriginalContent's Length, then <uint32 len><GSS header><data>."""
        parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
        message = b""
        for header, payload in zip(parts[0::2], parts[1::2]):
            length = int(re.search(rb"Length=(\d+)", header).group(1))
            payload = payload.removesuffix(BOUNDARY + b"--\r\n")
            payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
            (size,) = struct.unpack("<I", payload[:4])
            plain = self.context.unwrap_winrm(payload[4:4 + size], payload[4 + size:])
            if len(plain) != length:
                raise ValueError(f"decrypted {len(plain)} bytes, OriginalContent says {length}")
            message += plain
        return message

    def _encrypt(self, xml: bytes) -> bytes:
        wrapped = self.context.wrap_winrm(xml)
        return (BOUNDARY + b"\r\n\tContent-Type: " + ENCRYPTED_PROTOCOL.encode() + b"\r\n"
                b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(xml)).encode()
                + b"\r\n" + BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
                + struct.pack("<I", len(wrapped.header)) + wrapped.header + wrapped.data + BOUNDARY + b"--\r\n")

    def _reply(self, status: int, body: bytes, headers: dict[str, str], encrypted: bool = False) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if encrypted:
            self.send_header("Content-Type", f'multipart/encrypted;protocol="{ENCRYPTED_PROTOCOL}";'
                                             f'boundary="Encrypted Boundary"')
        elif body:
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # WS-Man / WinRS ---------------------------------------------------------------------------

    def _operation(self, body: bytes, encrypted: bool) -> tuple[int, bytes]:
        envelope = ET.fromstring(body)
        action = envelope.findtext("s:Header/a:Action", "", NS)
        message_id = envelope.findtext("s:Header/a:MessageID", "", NS)
        shell_id = envelope.findtext("s:Header/w:SelectorSet/w:Selector[@Name='ShellId']", None, NS)
        name = action.rsplit("/", 1)[-1]
        state = self.server.state
        state.record(event="operation", action=name, principal=self.principal, encrypted=encrypted)
        if name == "Create":
            shell_id = str(uuid.uuid4()).upper()
            state.shells[shell_id] = Shell()
            return 200, _response(action + "Response", message_id, _created(shell_id))
        shell = state.shells.get(shell_id or "")
        if shell is None:
            return 500, _fault(message_id, "w:InvalidSelectors", f"The shell {shell_id} does not exist.")
        body_el = envelope.find("s:Body", NS)
        if name == "Command":
            command_line = body_el.find("rsp:CommandLine", NS)
            arguments = [el.text or "" for el in command_line.findall("rsp:Arguments", NS)]
            command_id = str(uuid.uuid4()).upper()
            shell.commands[command_id] = Command(
                emulated_executor.decode_command(command_line.findtext("rsp:Command", "", NS), arguments))
            return 200, _response(f"{SHELL}/CommandResponse", message_id,
                                  f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>")
        if name == "Send":
            stream = body_el.find("rsp:Send/rsp:Stream", NS)
            shell.commands[stream.get("CommandId")].stdin += base64.b64decode(stream.text or "")
            return 200, _response(f"{SHELL}/SendResponse", message_id, "<rsp:SendResponse/>")
        if name == "Receive":
            command_id = body_el.find("rsp:Receive/rsp:DesiredStream", NS).get("CommandId")
            return 200, _response(f"{SHELL}/ReceiveResponse", message_id, self._run(command_id, shell))
        if name == "Signal":
            shell.commands.pop(body_el.find("rsp:Signal", NS).get("CommandId"), None)
            return 200, _response(f"{SHELL}/SignalResponse", message_id, "<rsp:SignalResponse/>")
        if name == "Delete":
            state.shells.pop(shell_id, None)
            return 200, _response(action + "Response", message_id, "")
        return 500, _fault(message_id, "w:ActionNotSupported", f"The action {action} is not supported.")

    def _run(self, command_id: str, shell: Shell) -> str:
        command = shell.commands[command_id]
        result = emulated_executor.run(command.script, bytes(command.stdin), self.principal or "",
                                       self.server.state.hostname)
        self.server.state.record(event="command", principal=self.principal, delegated=self.delegated,
                                 script=command.script, stdin_bytes=len(command.stdin), rc=result.rc,
                                 module=result.module, module_args=result.module_args,
                                 stderr=result.stderr.decode(errors="replace"))
        streams = "".join(
            f'<rsp:Stream Name="{name}" CommandId="{command_id}">{base64.b64encode(data).decode()}</rsp:Stream>'
            for name, data in (("stdout", result.stdout), ("stderr", result.stderr)) if data)
        streams += "".join(f'<rsp:Stream Name="{name}" CommandId="{command_id}" End="true"></rsp:Stream>'
                           for name in ("stdout", "stderr"))
        return (f"<rsp:ReceiveResponse>{streams}<rsp:CommandState CommandId=\"{command_id}\" "
                f"State=\"{SHELL}/CommandState/Done\"><rsp:ExitCode>{result.rc}</rsp:ExitCode>"
                f"</rsp:CommandState></rsp:ReceiveResponse>")


def _response(action: str, relates_to: str, body: str) -> bytes:
    return (f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}">'
            f"<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>"
            f"<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
            f"<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>").encode()


def _created(shell_id: str) -> str:
    return ("<x:ResourceCreated xmlns:x=\"http://schemas.xmlsoap.org/ws/2004/09/transfer\">"
            "<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>"
            f"<a:ReferenceParameters><w:ResourceURI>{SHELL}/cmd</w:ResourceURI><w:SelectorSet>"
            f"<w:Selector Name=\"ShellId\">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>"
            f"</x:ResourceCreated><rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId></rsp:Shell>")


def _fault(relates_to: str, code: str, text: str) -> bytes:
    return _response("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to,
                     f"<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>{code}</s:Value>"
                     f"</s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en-US\">{text}</s:Text></s:Reason>"
                     f"</s:Fault>")


class WinRMServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: State, tls: tuple[Path, Path] | None = None):
        super().__init__(address, Handler)
        self.state = state
        self.tls = tls is not None
        self.channel_bindings = None
        if tls:
            cert, key = tls
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.socket = context.wrap_socket(self.socket, server_side=True)
            # Channel binding (tls-server-end-point, RFC 5929) as Windows checks it with CBT hardening.
            der = ssl.PEM_cert_to_DER_cert(cert.read_text().split("-----END CERTIFICATE-----")[0]
                                           + "-----END CERTIFICATE-----\n")
            self.channel_bindings = GssChannelBindings(
                application_data=b"tls-server-end-point:" + hashlib.sha256(der).digest())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hostname", required=True, help="FQDN whose HTTP/<fqdn> key is in KRB5_KTNAME")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5985)
    parser.add_argument("--log", type=Path, required=True, help="JSON lines of everything received")
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    args = parser.parse_args()
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    server = WinRMServer((args.address, args.port), State(args.hostname, args.log), tls)
    print(f"listening on {'https' if tls else 'http'}://{args.address}:{args.port}/wsman", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
