"""Secrets generated once per data directory: the embedded mode's secret key, the bundle signing key."""

import os
from collections.abc import Callable
from pathlib import Path


def generated_once(path: Path, make: Callable[[], bytes]) -> Path:
    """``path``, created with ``make()`` when missing.

    The file is private (0600) from its first byte and written whole under another name, then
    linked into place: processes starting together (web, worker, beat, test workers) never read a
    half-written file, and all end up with the first one's content."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.{os.getpid()}.part")
        with os.fdopen(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            out.write(make())
        try:
            os.link(part, path)  # fails if another process won the race: keep theirs
        except FileExistsError:
            pass
        finally:
            part.unlink()
    return path
