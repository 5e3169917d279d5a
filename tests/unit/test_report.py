"""Progress output: step lines, heartbeats for long quiet steps, and text that looks like markup."""
from __future__ import annotations

import io

from rich.console import Console

from builder import report
from builder.engine import BuildEvent


def reporter(verbose=False) -> tuple[report.Reporter, io.StringIO]:
    out = io.StringIO()
    return report.Reporter(verbose=verbose, console=Console(file=out, width=200, soft_wrap=True)), out


def test_step_lines_keep_brackets(monkeypatch):
    rep, out = reporter()
    rep.event(BuildEvent("step", "RUN if [ -z $PKGMGR ]; then echo [bold]x; fi", 3, 9))
    assert "step  3/9 RUN if [ -z $PKGMGR ]; then echo [bold]x; fi" in out.getvalue()


def test_quiet_step_gets_heartbeat(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(report.time, "monotonic", lambda: now[0])
    rep, out = reporter()
    rep.event(BuildEvent("step", "RUN /output/scripts/assemble", 55, 78))
    now[0] = 10.0
    rep.event(BuildEvent("output", "Collecting gssapi"))
    assert "still running" not in out.getvalue()
    now[0] = 40.0
    rep.event(BuildEvent("output", "Building wheel for gssapi [setup.py]"))
    assert "step 55 still running (40s): Building wheel for gssapi [setup.py]" in out.getvalue()


def test_output_hidden_unless_verbose():
    rep, out = reporter()
    rep.event(BuildEvent("step", "RUN true", 1, 1))
    rep.event(BuildEvent("output", "some output"))
    assert "some output" not in out.getvalue()
    rep, out = reporter(verbose=True)
    rep.event(BuildEvent("output", "some output"))
    assert "some output" in out.getvalue()
