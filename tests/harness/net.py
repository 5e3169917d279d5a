"""Whether something answers on a TCP port (the KDCs, the WinRM server, the cluster's daemons)."""
from __future__ import annotations

import socket


def listening(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((address, port)) == 0
