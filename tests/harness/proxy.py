"""A TCP proxy on loopback that cuts any connection idle for ``idle`` seconds, the way Azure's load
balancer in front of an AKS API server cuts a log stream that carries nothing for about four
minutes (awx#12530). Bytes pass through untouched, so TLS is end to end between the client and
the API server; only silence is punished.

    with IdleCuttingProxy(("127.0.0.1", 6443), idle=3) as proxy:
        proxy.port        # point a kubeconfig's server at 127.0.0.1:<port>
        proxy.cuts        # how many connections it has cut so far

``python -m tests.harness.proxy HOST:PORT IDLE`` runs one in the foreground for manual tries.
"""
from __future__ import annotations

import selectors
import socket
import sys
import threading
import time


class IdleCuttingProxy:
    def __init__(self, target: tuple[str, int], idle: float, listen: str = "127.0.0.1"):
        self.target, self.idle = target, idle
        self.listener = socket.create_server((listen, 0))
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.cuts = 0
        self._peer: dict[socket.socket, socket.socket] = {}
        self._last: dict[socket.socket, float] = {}  # per pair, keyed by its client side
        self._client_of: dict[socket.socket, socket.socket] = {}
        self._selector = selectors.DefaultSelector()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="idle-cutting-proxy")

    def __enter__(self) -> "IdleCuttingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        for sock in list(self._peer):
            sock.close()
        self.listener.close()
        self._selector.close()

    def _serve(self) -> None:
        self._selector.register(self.listener, selectors.EVENT_READ)
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                if key.fileobj is self.listener:
                    self._accept()
                else:
                    self._forward(key.fileobj)
            self._cut_idle()

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ)
        self._peer[client], self._peer[upstream] = upstream, client
        self._client_of[client] = self._client_of[upstream] = client
        self._last[client] = time.monotonic()

    def _forward(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(sock)
            return
        try:
            self._peer[sock].sendall(data)  # loopback: a short blocking send is fine
        except BlockingIOError:
            self._peer[sock].setblocking(True)
            self._peer[sock].sendall(data)
            self._peer[sock].setblocking(False)
        except OSError:
            self._close(sock)
            return
        self._last[self._client_of[sock]] = time.monotonic()

    def _cut_idle(self) -> None:
        now = time.monotonic()
        for client, last in list(self._last.items()):
            if now - last > self.idle:
                self.cuts += 1
                self._close(client)

    def _close(self, sock: socket.socket) -> None:
        peer = self._peer.pop(sock, None)
        client = self._client_of.pop(sock, None)
        self._last.pop(client, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._peer.pop(s, None)
            self._client_of.pop(s, None)
            try:
                self._selector.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or ":" not in argv[0]:
        print("usage: python -m tests.harness.proxy HOST:PORT IDLE_SECONDS", file=sys.stderr)
        return 2
    host, port = argv[0].rsplit(":", 1)
    with IdleCuttingProxy((host, int(port)), float(argv[1])) as proxy:
        print(f"listening on 127.0.0.1:{proxy.port}, cutting connections idle for {argv[1]} s", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
