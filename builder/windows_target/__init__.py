"""A Windows target for tests and ``ee-builder verify``: a real KDC (MIT, or Samba as an AD DC) and
our own WinRM server (real HTTP Negotiate, real MS-WSMV message encryption, real WinRS shell
lifecycle) whose command executor is an emulation (no PowerShell exists on our machines)."""
