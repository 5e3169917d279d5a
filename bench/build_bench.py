"""`make bench`: ee-builder against plain `ansible-builder build` of the same composed definition.

Measured in one run, on this machine's engine (classic builder for both):
  cold build        ee-builder --no-cache        vs  ansible-builder build --no-cache   (goal <= 1.0x)
                    of the same composed definition, and of that definition without ee-builder's
                    build-speed feature (parallel compile), i.e. what plain ansible-builder users get
  first rebuild     nothing changed, but the wheels compiled by the cold build are now kept and
                    seeded into the builder stage: a one-time cost, reported, no goal
  settings rebuild  a label value changed        vs  ee-builder cold                    (goal <= 0.1x)
  package rebuild   one Python package added     vs  ee-builder cold                    (goal <= 0.5x)
  image size        the cold image               vs  300 MB                             (goal <= 1.0x)
The base image is prepared first and not timed: both sides need it.

Fresh CI runners (BENCH_PARTS=fresh for these alone): a second Docker daemon with an empty data
root and an empty ee-builder cache (no images, no kept wheels, no pip cache; the collections the
runner would download are copied in, for both sides), with the base loaded as a runner pulls it.
The build cache goes to a new repository of the local TLS registry (`make cluster-up`), pushed by
a build on the main engine with --cache-to-registry:
  fresh, cached     unchanged definition, --cache-from-registry   vs  fresh cold       (goal <= 0.15x)
  fresh, +1 package one Python package added, --cache-from-registry vs fresh cold      (goal <= 0.35x)
  fresh, new base   the base with one more layer (a new digest): wheels are not reused; time reported
  fresh cold        ee-builder on a fresh runner  vs  plain ansible-builder build there (goal <= 1.0x),
                    two of each in the order A B B A, means compared
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from builder import base_image, build as build_job, settings as settings_file
from builder.definition import Definition
from builder.engine import Engine
from builder.report import Reporter

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "localhost/ee-bench"
PLAIN = "localhost/ee-bench-plain:latest"
ADDED_PACKAGE = "jmespath==1.0.1"


def timed(label: str, reporter: Reporter, action) -> tuple[float, object]:
    reporter.say(f"[bench] {label}")
    started = time.monotonic()
    result = action()
    took = time.monotonic() - started
    reporter.say(f"[bench] {label}: {took:.1f}s")
    return took, result


def plain_build(prepared: build_job.Prepared, docker_host: str | None = None) -> None:
    """Plain `ansible-builder build --no-cache` of the composed definition (classic builder)."""
    env = {**os.environ, "DOCKER_BUILDKIT": "0", **({"DOCKER_HOST": docker_host} if docker_host else {})}
    with tempfile.TemporaryDirectory(prefix="ee-bench-plain-") as context:
        cmd = [sys.executable, "-m", "ansible_builder", "build", "-f", str(prepared.composed.path),
               "-c", context, "--container-runtime", "docker", "--no-cache", "-t", PLAIN]
        for key, value in prepared.composed.build_args.items():
            cmd += ["--build-arg", f"{key}={value}"]
        result = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise SystemExit(f"plain ansible-builder build failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def with_package(settings, package: str):
    data = copy.deepcopy(settings.definition.data)
    data["dependencies"]["python"] = list(data["dependencies"]["python"]) + [package]
    return replace(settings, definition=Definition(settings.definition.path, data))


def local_rows(settings, engine: Engine, reporter: Reporter) -> list[tuple]:
    # The cold composition (no kept wheels) is what ansible-builder gets; composing is not timed.
    unaided = replace(settings, build=replace(settings.build, parallel_compile=False))
    prepared = build_job.prepare(unaided, reporter, cold=True)
    plain_unaided, _ = timed("plain ansible-builder build --no-cache, without parallel compile", reporter,
                             lambda: plain_build(prepared))
    prepared = build_job.prepare(settings, reporter, cold=True)
    plain_cold, _ = timed("plain ansible-builder build --no-cache, same definition", reporter,
                          lambda: plain_build(prepared))
    ours_cold, summary = timed("ee-builder build --no-cache", reporter,
                               lambda: build_job.build(settings, engine, reporter, nocache=True))

    first_rebuild, _ = timed("ee-builder build right after the cold build (seeds kept wheels)", reporter,
                             lambda: build_job.build(settings, engine, reporter))

    relabelled = replace(settings, image=replace(settings.image, labels={"org.example.bench-run": str(time.time())}))
    settings_rebuild, _ = timed("ee-builder build after a label change", reporter,
                                lambda: build_job.build(relabelled, engine, reporter))

    added = with_package(settings, ADDED_PACKAGE)
    package_rebuild, _ = timed(f"ee-builder build after adding {ADDED_PACKAGE}", reporter,
                               lambda: build_job.build(added, engine, reporter))

    rows = [
        ("cold build (s)", ours_cold, plain_cold, "plain ansible-builder cold, same definition", 1.0),
        ("cold build (s)", ours_cold, plain_unaided, "plain ansible-builder cold, no parallel compile", 1.0),
        ("first rebuild, one-time (s)", first_rebuild, ours_cold, "ee-builder cold", None),
        ("rebuild, label changed (s)", settings_rebuild, ours_cold, "ee-builder cold", 0.1),
        ("rebuild, +1 Python package (s)", package_rebuild, ours_cold, "ee-builder cold", 0.5),
        ("image size (MB)", summary.size_mb, 300.0, "300 MB goal", 1.0),
    ]
    engine.remove(PLAIN)
    return rows


def main() -> int:
    reporter = Reporter()
    settings = settings_file.load(ROOT / "ee-builder.yml")
    settings = replace(settings, image=replace(settings.image, name=IMAGE, tags=("latest",)))
    engine = Engine(settings.engine)
    base_image.ensure(engine, settings.base, reporter)
    parts = os.environ.get("BENCH_PARTS", "local,fresh").split(",")
    rows = []
    if "local" in parts:
        rows += local_rows(settings, engine, reporter)
    if "fresh" in parts:
        from bench.fresh_runner_bench import fresh_rows  # needs the test harness (`make venv-test`)
        rows += fresh_rows(settings, engine, reporter)
    print()
    print(f"{'metric':32} {'value':>9} {'baseline':>9} {'ratio':>7} {'goal':>6}  baseline is")
    for metric, value, baseline, what, goal in rows:
        ratio = value / baseline
        verdict = "no goal" if goal is None else "met" if ratio <= goal else "MISSED"
        goal_text = "-" if goal is None else f"{goal:g}x"
        print(f"{metric:32} {value:9.1f} {baseline:9.1f} {ratio:6.2f}x {goal_text:>6}  {what} ({verdict})")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.json").write_text(json.dumps(
        [{"metric": m, "value": v, "baseline": b, "ratio": v / b, "goal": g, "baseline_is": w}
         for m, v, b, w, g in rows], indent=2))
    engine.remove(f"{IMAGE}:latest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
