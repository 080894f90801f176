"""The local SQLite store: predictions waiting for central (store-and-forward), inbox progress,
and the site's labelled tickets for retraining.

A prediction is written here before it is answered, and deleted only after central has
acknowledged it; central deduplicates on the idempotency key, so a batch resent after a lost
answer is stored once. The outbox is bounded: when full, new predictions are refused (the HTTP
endpoint answers 503) and the agent logs and reports it, rather than dropping anything.
"""

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("edge_agent.outbox")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL,
                                   payload TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dead (key TEXT PRIMARY KEY, payload TEXT NOT NULL, error TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inbox_progress (name TEXT PRIMARY KEY, line INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS labelled (ident TEXT PRIMARY KEY, label TEXT NOT NULL, text TEXT NOT NULL,
                                     document TEXT NOT NULL, added REAL NOT NULL);
"""


class OutboxFull(Exception):
    """The outbox holds its maximum; central has been unreachable for too long."""


class Outbox:
    def __init__(self, path: Path, *, capacity: int):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._count: int = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        self._full_logged = False

    # --- predictions ---

    def count(self) -> int:
        return self._count

    @property
    def full(self) -> bool:
        return self._count >= self.capacity

    def ensure_room(self) -> None:
        """Raise OutboxFull (logging it loudly, once per episode) when no prediction can be queued."""
        if self._count >= self.capacity:
            if not self._full_logged:
                logger.error(
                    "OUTBOX FULL: %s predictions wait for central; refusing new predictions", self._count
                )
                self._full_logged = True
            raise OutboxFull(f"outbox full ({self._count} predictions waiting for central)")

    def add(self, key: str, payload: dict[str, Any], *, progress: tuple[str, int] | None = None) -> None:
        """Queue one prediction (and, atomically with it, how far an inbox file has been read)."""
        with self._lock:
            self.ensure_room()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO outbox (key, payload, created) VALUES (?, ?, ?)",
                    (key, json.dumps(payload), time.time()),
                )
                if progress is not None:
                    self._db.execute(
                        "INSERT INTO inbox_progress (name, line) VALUES (?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET line = excluded.line",
                        progress,
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._count += 1

    def peek(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, payload FROM outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(key, json.loads(payload)) for key, payload in rows]

    def remove(self, keys: list[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM outbox WHERE key = ?", [(k,) for k in keys])
            self._db.execute("COMMIT")
            self._count = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            if self._count < self.capacity:
                self._full_logged = False

    def bury(self, items: list[tuple[str, dict[str, Any]]], error: str) -> None:
        """Move predictions central refused as malformed out of the way, kept for inspection."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for key, payload in items:
                self._db.execute(
                    "INSERT OR REPLACE INTO dead (key, payload, error) VALUES (?, ?, ?)",
                    (key, json.dumps(payload), error),
                )
                self._db.execute("DELETE FROM outbox WHERE key = ?", (key,))
            self._db.execute("COMMIT")
            self._count = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    # --- inbox progress ---

    def inbox_line(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT line FROM inbox_progress WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0

    def set_inbox_line(self, name: str, line: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO inbox_progress (name, line) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET line = excluded.line",
                (name, line),
            )

    def forget_inbox(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM inbox_progress WHERE name = ?", (name,))

    # --- labelled tickets of this site (they never leave it, except as pattern-3 ETL input) ---

    def add_labelled(self, ident: str, label: str, text: str, document: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO labelled (ident, label, text, document, added) "
                "VALUES (?, ?, ?, ?, ?)",
                (ident, label, text, json.dumps(document), time.time()),
            )

    def labelled(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT ident, label, text, document FROM labelled ORDER BY ident"
            ).fetchall()
        return [(ident, label, text, json.loads(doc)) for ident, label, text, doc in rows]

    def labelled_count(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM labelled").fetchone()[0]
            return count

    def close(self) -> None:
        with self._lock:
            self._db.close()
