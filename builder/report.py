"""What the user sees while long work runs, and the summaries at the end."""
from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .doctor import Diagnosis
from .gate import Verdict
from .engine import BuildEvent, BuildResult
from .summary import Summary
from .verify import Outcome
from .secrets import mask


HEARTBEAT = 30.0  # seconds of a quiet step between "still running" lines


class Reporter:
    """Prints one line per build step with its elapsed time; step output only when verbose, and
    otherwise a "still running" line with the latest output every HEARTBEAT seconds of a long step."""

    def __init__(self, verbose: bool = False, console: Console | None = None):
        # soft_wrap: CI logs are not terminals; long step lines stay whole instead of wrapping at 80.
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.verbose = verbose
        self.started = time.monotonic()
        self._step_started = self.started
        self._last_print = self.started
        self._step: BuildEvent | None = None

    def start_build(self) -> None:
        self._step = None

    def say(self, message: str) -> None:
        self.console.print(f"[dim]{self.elapsed():>6.1f}s[/] {escape(message)}")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def event(self, event: BuildEvent) -> None:
        if event.kind == "step":
            self._finish_step()
            self._step, self._step_started = event, time.monotonic()
            self._last_print = self._step_started
            text = event.text if len(event.text) <= 110 else event.text[:107] + "..."
            self.console.print(f"[dim]{self.elapsed():>6.1f}s[/] [bold]step {event.number:>2}/{event.total}[/] "
                               f"{escape(text)}", markup=True)
        elif event.kind == "cached":
            pass  # counted by the build stream (BuildResult)
        elif self.verbose:
            self.console.print(f"         {event.text}", markup=False)
        elif time.monotonic() - self._last_print >= HEARTBEAT and self._step is not None:
            running = time.monotonic() - self._step_started
            self.console.print(f"[dim]{self.elapsed():>6.1f}s            step {self._step.number} still running "
                               f"({running:.0f}s): {escape(event.text[:80])}[/]", markup=True)
            self._last_print = time.monotonic()

    def _finish_step(self) -> None:
        took = time.monotonic() - self._step_started
        if self._step is not None and took >= 5:
            self.console.print(f"[dim]{self.elapsed():>6.1f}s[/]            [dim](step took {took:.0f}s)[/]")

    def build_done(self, result: BuildResult, what: str = "build") -> None:
        self._finish_step()
        self.say(f"{what} finished: {result.cached} of {result.steps} steps from the layer cache")

    def failure(self, step: str | None, tail: list[str]) -> None:
        if tail:
            self.console.print(f"[red]last output of {step or 'the build'}:[/]")
            for line in tail[-25:]:
                self.console.print(f"  | {line}", markup=False)

    def summary(self, summary: Summary, title: str) -> None:
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in summary_rows(summary):
            table.add_row(key, value)
        self.console.print(table)


    def _checks(self, title: str, rows: list[tuple[str, bool, str]], failed: str) -> None:
        table = Table(title=title, title_justify="left")
        for column in ("check", "result", "detail"):
            table.add_column(column)
        for name, ok, detail in rows:
            table.add_row(escape(name), "[green]ok[/]" if ok else f"[red]{failed}[/]", escape(detail))
        self.console.print(table)

    def diagnosis(self, diagnosis: Diagnosis, title: str) -> None:
        self._checks(title, [(c.name, c.ok, c.detail) for c in diagnosis.checks], "FAILED")
        for check in diagnosis.checks:
            if not check.ok:
                self.console.print(f"[red]{escape(check.name)}[/]: cause: {escape(check.cause or 'not a known one; see the detail above')}")
                if check.fix:
                    self.console.print(f"  fix: {escape(check.fix)}")

    def push_progress(self, event: dict) -> None:
        """One line per layer when it is done; while a layer uploads, a line every HEARTBEAT/6 s."""
        status, layer = event.get("status", ""), event.get("id", "")
        if status in ("Pushed", "Layer already exists") or status.startswith("Mounted from"):
            self.say(f"layer {layer}: {status}")
        elif status == "Pushing" and time.monotonic() - self._last_print >= HEARTBEAT / 6:
            detail = event.get("progressDetail") or {}
            if detail.get("total"):
                self.say(f"layer {layer}: {detail.get('current', 0) / 1e6:.1f} of {detail['total'] / 1e6:.1f} MB")
                self._last_print = time.monotonic()

    def verify_table(self, outcomes: list[Outcome], image: str, report_path: str) -> None:
        table = Table(title=f"verify: {image}", title_justify="left")
        for column in ("job", "path", "status", "rc", "events", "seconds", "detail"):
            table.add_column(column)
        for o in outcomes:
            status = f"[green]{o.status}[/]" if o.passed else f"[red]{o.status}[/]"
            table.add_row(escape(o.job), o.path, status, "" if o.rc is None else str(o.rc), str(o.events),
                          f"{o.seconds:.1f}", escape(mask(o.detail[:300])))
        self.console.print(table)
        failed = [o for o in outcomes if not o.passed]
        self.console.print(f"[green]{len(outcomes)} jobs as expected[/]" if not failed else
                           f"[red]{len(failed)} of {len(outcomes)} jobs not as expected[/]",
                           f"in {self.elapsed():.0f}s; report {escape(report_path)}")

    def verdict(self, verdict: Verdict) -> None:
        # The details show probe output, which may echo what the image holds.
        self._checks(f"gate: {verdict.image}", [(n, ok, mask(d)) for n, ok, d in verdict.checks], "REFUSED")
        for leak in verdict.leaks:
            self.console.print(f"[red]leak[/]: {escape(leak.describe())}")  # describe() masks
        self.console.print("[green]image may be published[/]" if verdict.ok else
                           "[red]image refused: fix the above and rebuild (nothing was pushed)[/]")


def summary_rows(s: Summary) -> list[tuple[str, str]]:
    rows = [
        ("image", s.image), ("id", s.id), ("tags", ", ".join(s.tags) or "(none)"),
        ("size", f"{s.size_mb} MB"), ("created", s.created),
        ("user", s.user), ("entrypoint", " ".join(s.entrypoint) or "(none)"),
    ]
    if s.from_cache:
        rows.append(("from cache", s.from_cache))
    if s.probe_error:
        rows.append(("probe", s.probe_error))
    else:
        rows += [
            ("python", s.python or "absent"), ("ansible-core", s.ansible_core or "absent"),
            ("ansible-runner", s.ansible_runner or "absent"),
            ("pywinrm / pykerberos", f"{s.pywinrm or 'absent'} / {s.pykerberos or 'absent'}"),
            ("WinRM encryption", {True: "yes", False: "NO (pykerberos lacks authGSSWinRMEncryptMessage)",
                                  None: "absent"}[s.winrm_encryption]),
            ("kinit", s.kinit or "absent"),
            ("/etc/krb5.conf", "absent" if s.krb5_realm is None else
             f"UNREADABLE by MIT krb5: {s.krb5_conf_error}" if s.krb5_conf_error else
             f"default_realm {s.krb5_realm or '(none)'}"),
            ("collections", ", ".join(f"{k} {v}" for k, v in sorted(s.collections.items())) or "(none)"),
            ("krb5 / receptor", f"{s.krb5_version or 'absent'} / {s.receptor or 'absent'}"),
            ("content manifest", f"/usr/share/ee-builder/manifest.json ({len(s.manifest.get('python_packages', {}))} "
                                 f"Python packages)" if s.manifest else "absent"),
        ]
    rows += [(f"label {k}", mask(f"{k}={v}")[len(k) + 1:]) for k, v in sorted(s.labels.items())]
    return rows
