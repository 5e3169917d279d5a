"""Programs that run inside an image (stdlib-only Python, any image with python3): ``image``
tells what an image holds (``ee-builder inspect``, and the content manifest at build end);
``kerberos`` walks the chain Kerberos to Windows needs (``ee-builder doctor``)."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def path(name: str) -> Path:
    return HERE / f"{name}.py"


def source(name: str) -> str:
    return path(name).read_text()
