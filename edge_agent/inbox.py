"""The watched inbox: JSONL files of ticket documents, one per line.

Write a file under another name and rename it into place (``*.jsonl``); names starting with a dot
or ending in ``.part`` are ignored. Each line is predicted (and, when it carries a resolution,
kept as a labelled ticket for local retraining). A processed file moves to ``done/``; bad lines
go to ``rejected/<file>.rejected.jsonl`` with the reason. How far a file has been read is
committed with each prediction, so a restart or a full outbox never predicts a line twice.
"""

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent.outbox import OutboxFull

if TYPE_CHECKING:
    from edge_agent.agent import Agent

logger = logging.getLogger("edge_agent.inbox")


class Inbox:
    def __init__(self, agent: "Agent", folder: Path):
        self.agent = agent
        self.folder = Path(folder)
        self.done = agent.data_dir / "done"
        self.rejected = agent.data_dir / "rejected"

    def pending(self) -> list[Path]:
        return sorted(p for p in self.folder.glob("*.jsonl") if p.is_file() and not p.name.startswith("."))

    def _reject(self, name: str, line: int, reason: str, raw: str) -> None:
        with (self.rejected / f"{name}.rejected.jsonl").open("a") as f:
            f.write(json.dumps({"line": line, "error": reason, "raw": raw[:10000]}) + "\n")

    def process(self, path: Path) -> bool:
        """Predict the unread lines of one file; True when the file is finished and moved to done/."""
        from edge_agent.agent import NoModel

        outbox = self.agent.outbox
        start = outbox.inbox_line(path.name)
        with path.open(encoding="utf-8", errors="replace") as f:
            for number, raw in enumerate(f, start=1):
                if number <= start:
                    continue
                line = raw.strip()
                if not line:
                    outbox.set_inbox_line(path.name, number)
                    continue
                try:
                    document = json.loads(line)
                    if not isinstance(document, dict):
                        raise ValueError("a line must be a JSON object (a ticket document)")
                    if not document.get("external_id"):
                        raise ValueError("external_id is required")
                except ValueError as e:
                    self._reject(path.name, number, str(e), line)
                    outbox.set_inbox_line(path.name, number)
                    continue
                context = document.pop("context", None)
                try:
                    self.agent.predict(document, context=context, progress=(path.name, number))
                except NoModel as e:
                    if not document.get("resolution"):
                        logger.warning("inbox paused at %s line %s: %s", path.name, number, e)
                        return False
                    # Nothing to predict with yet, but a labelled ticket still teaches (pattern 3).
                    self.agent.remember(document, context)
                    outbox.set_inbox_line(path.name, number)
                except OutboxFull as e:
                    logger.warning("inbox paused at %s line %s: %s", path.name, number, e)
                    return False
                except Exception as e:  # noqa: BLE001 (a document the model cannot take: reject the line, go on)
                    self._reject(path.name, number, f"{type(e).__name__}: {e}", line)
                    outbox.set_inbox_line(path.name, number)
        os.replace(path, self.done / path.name)
        outbox.forget_inbox(path.name)
        logger.info("inbox: %s done", path.name)
        return True

    def scan(self) -> int:
        finished = 0
        for path in self.pending():
            if not self.process(path):
                break
            finished += 1
        if finished:
            self.agent.maybe_learn()
        return finished
