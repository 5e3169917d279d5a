"""User-facing errors.

Every failure a user can cause or fix is raised as a ``UserError`` whose message names the file,
field or component, what was expected and what to do. The CLI turns it into an exit code; nothing
else prints tracebacks for these.
"""


def last_lines(output: str, count: int) -> list[str]:
    """The last ``count`` non-blank lines of a tool's output, for a message that shows what it said."""
    return [line.strip() for line in output.splitlines() if line.strip()][-count:]


class UserError(Exception):
    """A problem the user can fix; ``str(err)`` is the whole message."""


class BuildFailed(UserError):
    """The container engine reported a failing build step."""

    def __init__(self, message: str, step: str | None = None, tail: list[str] | None = None):
        super().__init__(message)
        self.step = step
        self.tail = tail or []
