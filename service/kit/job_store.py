"""The job records of one data directory, shared by every process that serves it: one SQLite
database in WAL mode (Python's standard library; readers never wait for the writer).

Each record is a row: its searchable fields as columns, the rest as JSON, the (possibly long)
``history`` in a column of its own so that listings never read it. Every change that depends on
the current state — submit a job unless one is active for its model, claim the oldest queued job,
cancel — is one ``BEGIN IMMEDIATE`` transaction, so two processes can never both win.

>>> import tempfile, pathlib
>>> from service.kit.job_record import JobRecord
>>> store = JobStore(pathlib.Path(tempfile.mkdtemp()) / "jobs.sqlite3")
>>> with store.transaction() as tx:
...     tx.insert(JobRecord(id="a" * 32, kind="train", model="m"))
>>> store.get("a" * 32).status
'queued'
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.kit.job_record import ACTIVE, JobRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    model TEXT,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    finished TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL,
    history TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_model_status ON jobs (model, status);
CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created);
"""


def _record(rec: JobRecord) -> tuple[str, str]:
    data = rec.model_dump(mode="json", exclude={"history"})
    data["target"] = rec.target
    return json.dumps(data, ensure_ascii=False, default=str), json.dumps(rec.history, default=str)


def _parse(record: str, history: str | None) -> JobRecord:
    data = json.loads(record)
    target = data.pop("target", "")
    rec = JobRecord.model_validate({**data, "history": json.loads(history) if history else []})
    rec.target = target
    return rec


class Transaction:
    """The operations of one ``BEGIN IMMEDIATE`` transaction (see :meth:`JobStore.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get(self, job_id: str) -> JobRecord | None:
        row = self.conn.execute("SELECT record, history FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _parse(*row) if row else None

    def active_for(self, model: str) -> list[JobRecord]:
        rows = self.conn.execute(
            "SELECT record, history FROM jobs WHERE model = ? AND status IN (?, ?) ORDER BY created",
            (model, *ACTIVE),
        ).fetchall()
        return [_parse(*row) for row in rows]

    def insert(self, rec: JobRecord) -> None:
        record, history = _record(rec)
        self.conn.execute(
            "INSERT INTO jobs (id, model, status, created, finished, record, history) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rec.id, rec.model, rec.status, rec.created.isoformat(), _iso(rec.finished), record, history),
        )

    def put(self, rec: JobRecord, *, history: bool = True) -> None:
        """Write ``rec`` over its row (``history=False`` leaves the stored history as it is)."""
        record, hist = _record(rec)
        if history:
            self.conn.execute(
                "UPDATE jobs SET status = ?, finished = ?, record = ?, history = ? WHERE id = ?",
                (rec.status, _iso(rec.finished), record, hist, rec.id),
            )
        else:
            self.conn.execute(
                "UPDATE jobs SET status = ?, finished = ?, record = ? WHERE id = ?",
                (rec.status, _iso(rec.finished), record, rec.id),
            )

    def oldest_queued(self) -> JobRecord | None:
        row = self.conn.execute(
            "SELECT record, history FROM jobs WHERE status = 'queued' AND cancel_requested = 0 "
            "ORDER BY created LIMIT 1"
        ).fetchone()
        return _parse(*row) if row else None

    def running(self) -> list[JobRecord]:
        rows = self.conn.execute("SELECT record, history FROM jobs WHERE status = 'running'").fetchall()
        return [_parse(*row) for row in rows]

    def request_cancel(self, job_id: str) -> None:
        """Ask for the job's process to be terminated (overrides a stop request)."""
        self.conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))

    def request_stop(self, job_id: str) -> None:
        """Ask the job to stop gracefully and keep what it made (``keep=best``); a terminate request
        already made stays one."""
        self.conn.execute(
            "UPDATE jobs SET cancel_requested = 2 WHERE id = ? AND cancel_requested = 0", (job_id,)
        )

    def prune(self, keep: int) -> list[str]:
        """Delete the oldest ended jobs beyond the ``keep`` newest; returns their ids."""
        rows = self.conn.execute(
            "SELECT id FROM jobs WHERE status NOT IN (?, ?) "
            "ORDER BY COALESCE(finished, created) DESC LIMIT -1 OFFSET ?",
            (*ACTIVE, keep),
        ).fetchall()
        ids = [r[0] for r in rows]
        self.conn.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in ids])
        return ids


#: The ``cancel_requested`` column's values: 0 none, 1 terminate, 2 keep (stop gracefully).
_CANCEL_MODES: dict[int, str | None] = {0: None, 1: "terminate", 2: "keep"}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class JobStore:
    """SQLite table of job records at ``path`` (created on first use), safe across processes.

    Each thread keeps its own connection; every read sees the last committed state.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._ready = False

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a crash of the process loses nothing; a power cut at worst the
            # last progress report (state changes are rare next to reports).
            conn.execute("PRAGMA synchronous = NORMAL")
            with self._guard:
                if not self._ready:
                    conn.executescript(SCHEMA)
                    self._ready = True
                self._conns.append(conn)
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction (``BEGIN IMMEDIATE``: one writer at a time, over all processes)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def get(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id``, or None."""
        return Transaction(self._conn()).get(job_id)

    def list(
        self, *, status: str | None = None, model: str | None = None, history: bool = False
    ) -> list[JobRecord]:
        """Records, newest first, optionally filtered; ``history`` (off by default) reads the histories."""
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if model is not None:
            where.append("model = ?")
            args.append(model)
        cols = "record, history" if history else "record, NULL"
        sql = f"SELECT {cols} FROM jobs"  # noqa: S608 - the columns and clauses are constants
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._conn().execute(sql + " ORDER BY created DESC", args).fetchall()
        return [_parse(*row) for row in rows]

    def cancel_requested(self, job_id: str) -> bool:
        """Whether a cancel of either kind (terminate or keep) was asked for the job."""
        return self.cancel_mode(job_id) is not None

    def cancel_mode(self, job_id: str) -> str | None:
        """The cancel asked for the job: None, ``"terminate"`` or ``"keep"`` (stop gracefully and keep
        the best checkpoint, ``DELETE /v1/jobs/{id}?keep=best``)."""
        row = self._conn().execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _CANCEL_MODES.get(row[0] if row else 0)

    def counts(self) -> dict[str, int]:
        """Jobs by status."""
        rows = self._conn().execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {status: n for status, n in rows}

    def close(self) -> None:
        with self._guard:
            for conn in self._conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._conns.clear()
        self._local = threading.local()
