"""Reading the engine's build stream: steps, cache hits, stage images, failures (replaying what
Docker's classic builder and Podman print)."""
from __future__ import annotations

import pytest

from builder.build_stream import BuildStream
from builder.errors import BuildFailed

DOCKER = [
    {"stream": "Step 1/5 : FROM localhost/debian:bookworm AS base\n"}, {"stream": " ---> 1a6d403bc1fe\n"},
    {"stream": "Step 2/5 : RUN echo base\n"}, {"stream": " ---> Using cache\n"}, {"stream": " ---> 2b7e514cd2af\n"},
    {"stream": "Step 3/5 : FROM base AS builder\n"}, {"stream": " ---> 2b7e514cd2af\n"},
    {"stream": "Step 4/5 : RUN /output/scripts/assemble\n"}, {"stream": " ---> Running in 9f8e7d6c5b4a\n"},
    {"stream": "Building wheel for pykerberos\n"}, {"stream": "Removing intermediate container 9f8e7d6c5b4a\n"},
    {"stream": " ---> 3c8f625de3b0\n"},
    {"stream": "Step 5/5 : FROM base AS final\n"}, {"stream": " ---> 2b7e514cd2af\n"},
    {"aux": {"ID": "sha256:4d90736ef4c1"}}, {"stream": "Successfully built 4d90736ef4c1\n"},
]
PODMAN = [
    {"stream": "[1/2] STEP 1/2: FROM localhost/debian:bookworm AS builder\n"},
    {"stream": "[1/2] STEP 2/2: RUN echo \x1b[1mhi\x1b[0m\n"}, {"stream": "hi\n"}, {"stream": "--> 5e1f0a2b3c4\n"},
    {"stream": "[2/2] STEP 1/1: FROM localhost/debian:bookworm AS final\n"}, {"stream": "--> Using cache 6f2a1b3c4d5\n"},
    {"stream": "Successfully built 6f2a1b3c4d5\n"},
]


def run(chunks):
    events = []
    stream = BuildStream(events.append)
    for chunk in chunks:
        stream.feed(chunk)
    return stream.result(), events


def test_docker_stream():
    result, events = run(DOCKER)
    assert result.image_id == "sha256:4d90736ef4c1"
    assert result.stages == {"base": "2b7e514cd2af", "builder": "3c8f625de3b0", "final": "2b7e514cd2af"}
    assert [e.number for e in events if e.kind == "step"] == [1, 2, 3, 4, 5]
    assert sum(e.kind == "cached" for e in events) == 1
    assert [e.text for e in events if e.kind == "output"][0] == "Building wheel for pykerberos"


def test_podman_stream():
    result, events = run(PODMAN)
    assert result.image_id == "6f2a1b3c4d5"
    assert result.stages == {"builder": "5e1f0a2b3c4", "final": "6f2a1b3c4d5"}
    assert [e.text for e in events if e.kind == "step"][1] == "RUN echo hi"


def test_failure_names_step_and_keeps_its_output():
    chunks = DOCKER[:10] + [{"error": "The command '/bin/sh -c /output/scripts/assemble' returned a non-zero code: 1",
                              "errorDetail": {"message": "returned a non-zero code: 1"}}]
    with pytest.raises(BuildFailed) as err:
        run(chunks)
    assert err.value.step == "[4/5] RUN /output/scripts/assemble"
    assert err.value.tail == ["Building wheel for pykerberos"]
    assert "build step failed: [4/5] RUN /output/scripts/assemble" in str(err.value)


def test_steps_and_hits_are_counted_as_the_cache_sees_them():
    global_args = [{"stream": "Step 1/7 : ARG PYCMD=/usr/bin/python3\n"}]
    chunks = global_args + [{"stream": c["stream"].replace("/5", "/7")} if "stream" in c else c for c in DOCKER]
    result, _ = run(chunks)
    # ARGs before the first FROM and the FROMs themselves never come from a cache.
    assert (result.steps, result.cached) == (2, 1)
    result, _ = run(PODMAN)
    assert (result.steps, result.cached) == (1, 1)  # the final stage's commit, cached
