"""`make bench-jobs`: jobs through receptor and the pod (`verify.run_job`, container-group path)
against `ansible-runner run` of the same playbook in `docker run` of the same image.

Measured in one run, on this machine (the local cluster must be up: `make cluster-up`):
  per-job time      smoke "ping" job, median of 3: receptor + pod   vs  docker run    (goal <= +3 s)
  event throughput  ~110 MB of 1 KB debug events (more than 10x a 10Mi containerLogMaxSize): events/s
                    and MB/s from the first event received to the last, counters 1..n checked;
                    vs the same playbook in docker run (its events' own timestamps)  (goal >= 1,000 events/s)
  concurrency       20 ping jobs at once (threads)  vs  the same 20 one after another   (no goal)
  stream capacity   ~110 MB of generated runner events (no Ansible: a Python loop in the pod
                    writing the worker stream at full speed, after reading its stdin as the worker
                    does): what receptor + the log stream + `ansible-runner process` sustain
                    vs  the same generator in docker run, read directly      (goal >= 1,000 events/s)
The receptor node is the stand-in (tests/harness/receptor/), or a real one by EE_RECEPTOR. The
image from `make build` is loaded into the cluster first (not timed). BENCH_JOBS_EVENTS sets the
number of debug events of the throughput job (default 36,000).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import yaml

from builder import awx, verify
from tests.harness.cluster import Cluster
from tests.harness.receptor import node as receptor
from tests.helpers import IMAGE
from tests.integration.test_verify_scale import continuous, loud_job

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "ee-bench-jobs"
RUNS = 3
CONCURRENT = 20
EVENTS = int(os.environ.get("BENCH_JOBS_EVENTS", "36000"))
STREAM_EVENTS = int(os.environ.get("BENCH_JOBS_STREAM_EVENTS", "52000"))
# The worker stream of a job, at full speed and without Ansible: what receptor, the kubelet's log
# stream and `ansible-runner process` sustain. Reads its stdin to the end first, as the worker does
# (so the log is followed before the output starts), then writes runner status and event lines of
# about 2.1 KB (a 1 KB debug message in `stdout` and in `res`), counters 1..n.
GENERATOR = """
import json, sys, uuid
sys.stdin.buffer.read()
n, pad, out = int(sys.argv[1]), "x" * 1000, sys.stdout
out.write(json.dumps({"status": "starting", "runner_ident": "bench"}) + "\\n")
out.write(json.dumps({"status": "running", "runner_ident": "bench"}) + "\\n")
for i in range(1, n + 1):
    out.write(json.dumps({"event": "runner_item_on_ok", "uuid": str(uuid.uuid4()), "counter": i,
                          "stdout": f"ok: [localhost] => (item={i}) => {pad}", "start_line": i, "end_line": i + 1,
                          "runner_ident": "bench", "event_data": {"res": {"msg": f"{i} {pad}"}}}) + "\\n")
out.write(json.dumps({"status": "successful", "runner_ident": "bench"}) + "\\n")
out.write(json.dumps({"eof": True}) + "\\n")
out.flush()
"""
WORKERS = [{"work-kubernetes": {"worktype": "kubernetes-runtime-auth", "authmethod": "runtime", "allowruntimeauth": True,
                                "allowruntimepod": True, "allowruntimeparams": True}}]


def say(text: str) -> None:
    print(f"[bench-jobs {time.strftime('%H:%M:%S')}] {text}", flush=True)


def docker_run(job: verify.Job) -> dict:
    """`ansible-runner run` of the job's private data dir in `docker run` of the image: wall time,
    status, and the events it wrote (counters, and the span of their `created` timestamps)."""
    with tempfile.TemporaryDirectory(prefix="ee-bench-docker-") as private:
        verify._private_data_dir(Path(private), job)
        for path in [Path(private), *Path(private).rglob("*")]:
            path.chmod(0o777)  # the image's user (1000) writes artifacts there
        started = time.monotonic()
        result = subprocess.run(["docker", "run", "--rm", "-v", f"{private}:/runner", IMAGE,
                                 "ansible-runner", "run", "/runner", "-p", "site.yml"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=3600)
        seconds = time.monotonic() - started
        events = []
        for name in Path(private).glob("artifacts/*/job_events/*.json"):
            event = json.loads(name.read_text())
            events.append((event["counter"], datetime.fromisoformat(event["created"]).timestamp()))
        events.sort()
        status = next(Path(private).glob("artifacts/*/status"), None)
        status = status.read_text().strip() if status else f"none (exit {result.returncode}: {result.stderr[-500:]})"
    span = events[-1][1] - events[0][1] if events else 0.0
    return {"seconds": seconds, "status": status, "events": len(events), "span": span,
            "intact": [c for c, _ in events] == list(range(1, len(events) + 1))}


def docker_stream(events: int) -> dict:
    """The generator in `docker run` of the image, its stdout read here: events/s and MB/s."""
    started, first, last, counters, size = time.monotonic(), None, None, [], 0
    with subprocess.Popen(["docker", "run", "-i", "--rm", "--entrypoint", "python3", IMAGE, "-c", GENERATOR,
                           str(events)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE) as process:
        for line in process.stdout:
            size += len(line)
            if line.startswith(b'{"event"'):
                last = time.monotonic()
                first = first or last
                counters.append(json.loads(line)["counter"])
    span = (last - first) if first else 0.0
    return {"seconds": time.monotonic() - started, "events": len(counters), "span": span, "bytes": size,
            "intact": counters == list(range(1, events + 1))}


def main() -> int:
    cluster = Cluster()
    if not (cluster.kubeconfig.exists() and cluster.daemons.alive("kube-apiserver") and cluster.daemons.alive("kubelet")):
        raise SystemExit("the local cluster is not up: run `make cluster-up` (python -m tests.harness.cluster up)")
    kubelet = yaml.safe_load((cluster.state / "kubelet.yaml").read_text())
    log_max = kubelet.get("containerLogMaxSize", "10Mi")
    say(f"loading {IMAGE} into the cluster (not timed); kubelet containerLogMaxSize {log_max}")
    cluster.load(IMAGE)
    if cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", NAMESPACE)
    kubectl = cluster.binary("kubectl").parent
    with tempfile.TemporaryDirectory(prefix="ee-bench-jobs-node-") as directory:
        node = receptor.start(Path(directory), "ee-bench", WORKERS, env={"PATH": f"{kubectl}:{os.environ['PATH']}"})
        say(f"receptor: {'the stand-in' if receptor.is_stand_in() else receptor.binary()}")
        try:
            rows, problems = measure(cluster, node)
        finally:
            node.stop()
    deadline = time.monotonic() + 90  # released pods are deleted without waiting: they terminate meanwhile
    while (left := [n for n in cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name").stdout.split()
                    if n.startswith("pod/automation-job-")]) and time.monotonic() < deadline:
        time.sleep(1)
    if left:
        problems.append(f"pods left in {NAMESPACE}: {left}")

    print()
    print(f"receptor: {'stand-in' if receptor.is_stand_in() else receptor.binary()}; "
          f"kubelet containerLogMaxSize {log_max}; {os.cpu_count()} cores")
    print(f"{'metric':38} {'value':>9} {'baseline':>9} {'ratio':>7}  {'goal':>14}  baseline is")
    for metric, value, baseline, what, goal, met in rows:
        ratio = f"{value / baseline:6.2f}x" if baseline else "      -"
        verdict = "" if met is None else " (met)" if met else " (MISSED)"
        print(f"{metric:38} {value:9.2f} {baseline if baseline is not None else float('nan'):9.2f} {ratio}  "
              f"{goal:>14}  {what}{verdict}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "jobs.json").write_text(json.dumps(
        {"receptor": "stand-in" if receptor.is_stand_in() else receptor.binary(), "containerLogMaxSize": log_max,
         "rows": [{"metric": m, "value": v, "baseline": b, "ratio": (v / b if b else None), "goal": g, "met": ok,
                   "baseline_is": w} for m, v, b, w, g, ok in rows], "problems": problems}, indent=2))
    return 1 if problems else 0


def measure(cluster: Cluster, node) -> tuple[list, list[str]]:
    target = verify.Target(control=node.socket, image=IMAGE, kubeconfig=cluster.kubeconfig.read_text(),
                           override=awx.container_group_pod_spec(IMAGE, NAMESPACE, configmap=None),
                           pending_timeout="10m")
    ping = verify.SUITES["smoke"][0]
    rows, problems = [], []

    def run(job: verify.Job, job_id: int) -> verify.Outcome:
        outcome = verify.run_job(target, job, verify.CONTAINER_GROUP, job_id)
        if not (outcome.passed and continuous(outcome.counters)):
            problems.append(f"{job.name} (job {job_id}): {outcome.status} rc={outcome.rc} {outcome.detail}")
        return outcome

    # (a) per-job time, alternating so both see the same load.
    ours, theirs = [], []
    for i in range(RUNS):
        ours.append(run(ping, 700_000 + i).seconds)
        plain = docker_run(ping)
        if plain["status"] != "successful":
            problems.append(f"docker run ping: {plain['status']}")
        theirs.append(plain["seconds"])
        say(f"ping: receptor + pod {ours[-1]:.1f}s, docker run {theirs[-1]:.1f}s")
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    rows.append(("per-job time, median of 3 (s)", ours_s, theirs_s, "docker run ansible-runner run", "-", None))
    rows.append(("per-job extra through receptor (s)", ours_s - theirs_s, None, "-", "<= +3.0 s",
                 ours_s - theirs_s <= 3.0))

    # (b) event throughput.
    job = loud_job(EVENTS)
    say(f"throughput job: {EVENTS} debug events of 1 KB through receptor …")
    big = run(job, 710_000)
    mb = big.stdout_bytes / 1e6
    rate = big.events / big.stream_seconds if big.stream_seconds else 0.0
    say(f"through receptor: {big.status}, {big.events} events, {mb:.1f} MB in {big.seconds}s "
        f"(events over {big.stream_seconds:.1f}s), counters intact: {continuous(big.counters)}")
    say("the same playbook in docker run …")
    plain = docker_run(job)
    plain_rate = plain["events"] / plain["span"] if plain["span"] else 0.0
    say(f"docker run: {plain['status']}, {plain['events']} events in {plain['seconds']:.1f}s "
        f"(created over {plain['span']:.1f}s), counters intact: {plain['intact']}")
    if plain["status"] != "successful" or not plain["intact"]:
        problems.append(f"docker run of the throughput job: {plain['status']}, counters intact {plain['intact']}")
    if big.stdout_bytes < 100e6:
        problems.append(f"the throughput job streamed only {mb:.1f} MB (set BENCH_JOBS_EVENTS higher)")
    rows.append(("throughput through receptor (events/s)", rate, plain_rate, "docker run, events' own timestamps",
                 ">= 1000/s", rate >= 1000))
    rows.append(("throughput through receptor (MB/s)", mb / big.stream_seconds if big.stream_seconds else 0.0,
                 None, f"{mb:.1f} MB, {big.events} events, intact: {continuous(big.counters)}", "-", None))
    rows.append(("throughput job wall time (s)", big.seconds, plain["seconds"], "docker run, same playbook", "-", None))

    # (b2) what the stream sustains: the worker stream without Ansible, at full speed.
    pod = awx.container_group_pod_spec(IMAGE, NAMESPACE, configmap=None)
    pod["spec"]["containers"][0]["command"] = ["python3", "-c", GENERATOR, str(STREAM_EVENTS)]
    generated = verify.Target(control=node.socket, image=IMAGE, kubeconfig=target.kubeconfig, override=pod,
                              pending_timeout="10m")
    say(f"stream capacity: {STREAM_EVENTS} generated events through receptor …")
    stream = verify.run_job(generated, verify.Job("generated stream", ping.playbook), verify.CONTAINER_GROUP, 715_000)
    intact = stream.status == "successful" and stream.counters == list(range(1, STREAM_EVENTS + 1))
    smb = stream.stdout_bytes / 1e6
    srate = stream.events / stream.stream_seconds if stream.stream_seconds else 0.0
    say(f"through receptor: {stream.status}, {stream.events} events, {smb:.1f} MB in {stream.seconds}s "
        f"(events over {stream.stream_seconds:.1f}s), intact: {intact}; {stream.detail}")
    if not intact:
        problems.append(f"generated stream: {stream.status}, {stream.events} of {STREAM_EVENTS} events, "
                        f"counters continuous {continuous(stream.counters)}: {stream.detail}")
    direct = docker_stream(STREAM_EVENTS)
    drate = direct["events"] / direct["span"] if direct["span"] else 0.0
    say(f"docker run: {direct['events']} events, {direct['bytes'] / 1e6:.1f} MB over {direct['span']:.1f}s, "
        f"intact: {direct['intact']}")
    rows.append(("stream capacity (events/s)", srate, drate, "generator in docker run, stdout read directly",
                 ">= 1000/s", srate >= 1000 and intact))
    rows.append(("stream capacity (MB/s)", smb / stream.stream_seconds if stream.stream_seconds else 0.0,
                 direct["bytes"] / 1e6 / direct["span"] if direct["span"] else None,
                 f"{smb:.1f} MB, {stream.events} events, intact: {intact}", "-", None))

    # (c) 20 at once vs 20 in a row.
    say(f"{CONCURRENT} ping jobs one after another …")
    started = time.monotonic()
    for i in range(CONCURRENT):
        run(ping, 720_000 + i)
    sequential = time.monotonic() - started
    say(f"sequential: {sequential:.1f}s; {CONCURRENT} at once …")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        outcomes = list(pool.map(lambda i: run(ping, 730_000 + i), range(CONCURRENT)))
    concurrent = time.monotonic() - started
    say(f"concurrent: {concurrent:.1f}s (slowest job {max(o.seconds for o in outcomes)}s)")
    rows.append((f"{CONCURRENT} jobs at once, wall (s)", concurrent, sequential, f"{CONCURRENT} one after another",
                 "-", None))
    return rows, problems


if __name__ == "__main__":
    sys.exit(main())
