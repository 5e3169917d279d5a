"""``python -m tests.harness.cluster up|down|status|credential`` (the Makefile's cluster-* and ci targets)."""
from __future__ import annotations

import argparse
import sys

from . import Cluster, __doc__ as about
from .supervise import ClusterError


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.cluster", description=about.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down", "status", "credential"))
    parser.add_argument("field", nargs="?", choices=("username", "password"), help="for credential: which")
    parser.add_argument("--container-log-max-size", default="10Mi", help="the kubelet's containerLogMaxSize")
    args = parser.parse_args()
    cluster = Cluster(container_log_max_size=args.container_log_max_size)
    try:
        if args.action == "up":
            cluster.up()
        elif args.action == "down":
            cluster.down()
        elif args.action == "credential":  # the local registry's, for `make ci`
            print(cluster.registry_credentials[args.field or "username"])
        else:
            for name, state in cluster.status().items():
                print(f"{name:<24} {state}")
    except ClusterError as err:
        print(f"cluster: error: {err}", file=sys.stderr)
        sys.exit(1)


main()
