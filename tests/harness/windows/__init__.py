"""A Windows target for the tests: a real KDC (MIT, or Samba as an AD DC) and our own WinRM server
(real HTTP Negotiate, real MS-WSMV message encryption, real WinRS shell lifecycle) whose command
executor is an emulation (no PowerShell exists on our machines); or a real Windows host named by
``WINRM_TEST_*`` environment variables."""


class TargetError(Exception):
    """The target cannot start or is described incompletely; the message says what to do."""
