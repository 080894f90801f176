"""The agent's bundles on disk (``<data_dir>/bundles/<version>.zip``, ``current.json`` naming the one
in service): at most ``KEEP`` zips are kept, and when the one in service no longer verifies at
start, the newest earlier one that does serves until central's copy is fetched again, so an agent
that starts without its link to central still answers."""

from collections.abc import Iterator
from pathlib import Path

# Placement sizes a site's storage for three copies of a bundle (ml/fleet/placement.py).
KEEP = 3


# Downloads and delta rebuilds in progress share the directory under these prefixes (agent.py).
IN_PROGRESS = ("download-", "delta-", "rebuilt-")


def _zips(directory: Path) -> list[Path]:
    """The installed bundle zips, newest first (by when they were installed)."""
    installed = [path for path in directory.glob("*.zip") if not path.name.startswith(IN_PROGRESS)]
    return sorted(installed, key=lambda path: path.stat().st_mtime_ns, reverse=True)


def prune(directory: Path, serving: Path, keep: int = KEEP) -> list[Path]:
    """Delete all but the ``keep`` newest zips, never ``serving``; returns what was deleted."""
    others = [path for path in _zips(directory) if path != serving]
    removed = others[max(keep - 1, 0) :]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def earlier(directory: Path, damaged: Path | None) -> Iterator[Path]:
    """The zips other than ``damaged``, newest first: what may serve in its place."""
    return (path for path in _zips(directory) if path != damaged)
