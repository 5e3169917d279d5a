"""How long work tells the user where it is. Every job takes a ``Progress``: ``report.Reporter``
prints it with timestamps for the CLI; ``Printed`` is the plain default for library use, and
``Silent`` says nothing."""
from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def say(self, message: str) -> None:
        """One line about what is happening now."""


class Printed:
    def say(self, message: str) -> None:
        print(message)


class Silent:
    def say(self, message: str) -> None:
        pass
