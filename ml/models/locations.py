"""Where an artefact's files are: stored relative to the setting that roots them.

A row holds its path relative to TICKETAI_MODEL_DIR or TICKETAI_EDGE_BUNDLE_DIR and is resolved
against the current setting when read, so a backup restored on another host, or a data folder
moved, still finds its files. A path outside its root (a row written before migration 0018 whose
files live elsewhere, or a bundle registered from another folder) stays absolute and resolves as
itself.
"""

from pathlib import Path


def stored(path: str | Path, root: str | Path) -> str:
    """What a row keeps for ``path``: relative to ``root`` when inside it, else absolute."""
    path, root = Path(path).resolve(), Path(root).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def resolved(value: str, root: str | Path) -> Path:
    """The file or folder a stored value names under the current ``root``."""
    return Path(root) / value  # an absolute value replaces the root: pathlib's join keeps it
