"""Reading what an engine prints while it builds (Docker's classic builder or Podman, through
the Docker API): steps, cache hits, the image each stage ended with, step output, and failures.
Pure: it is fed decoded chunks and knows nothing of the engine."""
from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from typing import Callable

from .errors import BuildFailed

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_STEP_PODMAN = re.compile(r"^\[(\d+)/(\d+)\] STEP (\d+)/(\d+): (.*)$")
_FROM = re.compile(r"^FROM \S+ (?:AS|as) (\S+)")
# The image a step produced: " ---> 0123abcd4567" (Docker), "--> 0123abcd456" (Podman).
_LAYER = re.compile(r"^\s*-{2,3}> (?:Using cache )?([0-9a-f]{10,64})$")
_BUILT = re.compile(r"^Successfully built ([0-9a-f]+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
TAIL = 40  # lines of a failing step's output kept for the message


@dataclass(frozen=True)
class BuildEvent:
    """One thing the engine reported: a new step, a cache hit, a step's resulting layer, or a
    line of step output. For "cached" and "layer", ``text`` is the image ID when the engine says it."""
    kind: str  # "step" | "cached" | "layer" | "output"
    text: str
    number: int = 0
    total: int = 0


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    stages: dict[str, str]  # stage name -> the image its last step produced
    steps: int = 0          # steps that can come from the cache (all but FROM and the ARGs before it)
    cached: int = 0         # steps that did


class BuildStream:
    """Feed it the engine's chunks in order; it passes each event on and remembers what the
    result needs. The stages come from the build's own output: another build could pick other
    cached layers for the same steps."""

    def __init__(self, on_event: Callable[[BuildEvent], None]):
        self.on_event = on_event
        self.step: str | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL)
        self.image_id: str | None = None
        self._stage: str | None = None
        self.stages: dict[str, str] = {}
        self.steps = self.cached = 0
        self._in_stage = False

    def feed(self, chunk: dict) -> None:
        if "error" in chunk:
            message = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
            raise self.failed(f"build step failed: {self.step or '(before the first step)'}\n"
                              f"  engine says: {message.strip()}")
        if "aux" in chunk and "ID" in chunk["aux"]:
            self.image_id = chunk["aux"]["ID"]
        for line in chunk.get("stream", "").splitlines():
            event = parse(line)
            if event is not None:
                self._note(event)
                self.on_event(event)

    def _note(self, event: BuildEvent) -> None:
        if event.kind == "step":
            self.step = f"[{event.number}/{event.total}] {event.text}"
            self.tail.clear()
            if found := _FROM.match(event.text):
                self._stage = found.group(1)
            if event.text.startswith("FROM "):
                self._in_stage = True
            elif self._in_stage:  # ARGs before the first FROM are never cached
                self.steps += 1
        elif event.kind == "cached":
            self.cached += 1
        if event.kind in ("layer", "cached") and event.text and self._stage:
            self.stages[self._stage] = event.text
        elif event.kind == "output":
            self.tail.append(event.text)
            if self.image_id is None and (found := _BUILT.match(event.text)):
                self.image_id = found.group(1)

    def failed(self, message: str) -> BuildFailed:
        return BuildFailed(message, step=self.step, tail=list(self.tail))

    def result(self) -> BuildResult:
        if self.image_id is None:
            raise self.failed(f"the engine ended the build without an image (last step: {self.step})")
        return BuildResult(self.image_id, self.stages, self.steps, self.cached)


def parse(line: str) -> BuildEvent | None:
    line = _ANSI.sub("", line).rstrip()
    if not line:
        return None
    if m := _STEP.match(line):
        return BuildEvent("step", m.group(3), int(m.group(1)), int(m.group(2)))
    if m := _STEP_PODMAN.match(line):
        return BuildEvent("step", m.group(5), int(m.group(3)), int(m.group(4)))
    if m := _LAYER.match(line):
        # Podman names the cached layer on the same line; Docker names it on the next one.
        return BuildEvent("cached" if "Using cache" in line else "layer", m.group(1))
    if line.strip() in ("---> Using cache", "--> Using cache"):
        return BuildEvent("cached", "")
    if line.startswith(" ---> ") or line.startswith("Removing intermediate container"):
        return None
    return BuildEvent("output", line)
