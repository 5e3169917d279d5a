"""``receptor --version`` and ``receptor -c FILE`` for the receptor STAND-IN (see __init__.py):
load the config (exit 1 with its message when it asks for anything the stand-in cannot do), then
serve the control socket until SIGTERM or SIGINT."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from tests.harness.receptor import VERSION, config
from tests.harness.receptor.control import ControlServer
from tests.harness.receptor.work import Workceptor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="receptor", description="receptor stand-in for the ee-builder tests")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("-c", "--config", type=Path, help="receptor v1 YAML config")
    args = parser.parse_args(argv)
    if args.version:
        print(VERSION)
        return 0
    if args.config is None:
        parser.error("--config is required (the stand-in has no other way to be configured)")
    try:
        cfg = config.load(args.config)
    except config.ConfigError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    work = Workceptor(cfg)
    server = ControlServer(cfg, work)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    if cfg.log_level.lower() in ("info", "debug"):
        print(f"INFO Running control service control on {cfg.socket}", file=sys.stderr, flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    cfg.socket.unlink(missing_ok=True)
    work.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
