"""Run rows (DESIGN §6): one agent execution for one issue or pull request."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from bot.store.database import Database, now


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        return self in (RunState.QUEUED, RunState.RUNNING)


ACTIVE_STATES = (RunState.QUEUED.value, RunState.RUNNING.value)


class Run(BaseModel):
    """A row of the runs table."""

    model_config = ConfigDict(frozen=True)

    id: int
    forge: str
    repo: str
    number: int
    is_pull_request: bool = False
    agent: str
    model: str | None = None
    template: str = "coding"
    options: dict[str, Any] = {}
    trigger: str
    actor: str
    task: str = ""
    instructions: str = ""
    state: RunState = RunState.QUEUED
    reason: str | None = None
    question: str | None = None
    answer: str | None = None
    exit_code: int | None = None
    workspace_path: str | None = None
    branch: str | None = None
    base_branch: str | None = None
    base_sha: str | None = None
    pr_url: str | None = None
    runtime: str | None = None
    container_name: str | None = None
    pid: int | None = None
    handle: dict[str, Any] | None = None
    timeout_minutes: int | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    status_comment_id: int | None = None
    trigger_comment_id: int | None = None
    trigger_comment_kind: str | None = None
    command_line: str | None = None
    delivery_id: str | None = None
    resumed_from: int | None = None
    clone_url: str | None = None
    timing: str | None = None  # how its time is tracked: stopwatch | times | none
    state_label: str | None = None
    qa_report: dict[str, Any] | None = None
    diff_stat: str | None = None
    pushed_branch: str | None = None
    final_message: str | None = None

    @field_validator("options", "handle", "qa_report", mode="before")
    @classmethod
    def _decode_json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @property
    def agent_spec(self) -> str:
        return f"{self.agent}:{self.model}" if self.model else self.agent

    @property
    def pool(self) -> str:
        return self.agent

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or now()) - self.started_at


JSON_COLUMNS = {"options", "handle", "qa_report"}
WRITABLE_COLUMNS = set(Run.model_fields) - {"id"}


def _encode(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and value is not None:
        return json.dumps(value, sort_keys=True)
    if isinstance(value, StrEnum):
        return value.value
    return value


class Runs:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, **fields: Any) -> Run:
        fields.setdefault("created_at", now())
        unknown = set(fields) - WRITABLE_COLUMNS
        if unknown:
            raise ValueError(f"unknown run fields: {sorted(unknown)}")
        columns = sorted(fields)
        cursor = await self.database.execute(
            f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            tuple(_encode(column, fields[column]) for column in columns),
        )
        run = await self.get(int(cursor.lastrowid or 0))
        assert run is not None
        return run

    async def update(self, run_id: int, **fields: Any) -> Run:
        unknown = set(fields) - WRITABLE_COLUMNS
        if unknown:
            raise ValueError(f"unknown run fields: {sorted(unknown)}")
        if fields:
            assignments = ", ".join(f"{column} = ?" for column in fields)
            await self.database.execute(
                f"UPDATE runs SET {assignments} WHERE id = ?",
                (*(_encode(column, value) for column, value in fields.items()), run_id),
            )
        run = await self.get(run_id)
        if run is None:
            raise LookupError(f"run {run_id} does not exist")
        return run

    async def claim_for_start(
        self, run_id: int, *, total: int = 0, pool_total: int = 0, model_total: int = 0
    ) -> bool:
        """Atomically move a queued run to running; False when someone else got it first, or
        when, counted now, it would pass a limit (0 = none): `total` running runs, `pool_total`
        of its agent, `model_total` of its agent and model, or a second running run on its
        issue. The scheduling decision is made before the claim, by this process or another
        (the server and `python -m bot dispatch` share the database), so the claim checks again
        in the same statement."""
        cursor = await self.database.execute(
            "UPDATE runs SET state = 'running', started_at = :now"
            " WHERE id = :id AND state = 'queued'"
            " AND NOT EXISTS (SELECT 1 FROM runs AS other WHERE other.state = 'running'"
            "  AND other.forge = runs.forge AND other.repo = runs.repo COLLATE NOCASE"
            "  AND other.number = runs.number)"
            " AND (:total = 0 OR (SELECT count(*) FROM runs AS other"
            "  WHERE other.state = 'running') < :total)"
            " AND (:pool_total = 0 OR (SELECT count(*) FROM runs AS other"
            "  WHERE other.state = 'running' AND other.agent = runs.agent) < :pool_total)"
            " AND (:model_total = 0 OR (SELECT count(*) FROM runs AS other"
            "  WHERE other.state = 'running' AND other.agent = runs.agent"
            "  AND other.model IS runs.model) < :model_total)",
            {
                "now": now(),
                "id": run_id,
                "total": total,
                "pool_total": pool_total,
                "model_total": model_total,
            },
        )
        return cursor.rowcount == 1

    async def get(self, run_id: int) -> Run | None:
        row = await self.database.fetch_one("SELECT * FROM runs WHERE id = ?", (run_id,))
        return Run.model_validate(dict(row)) if row else None

    async def list(
        self, *, state: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Run]:
        where, parameters = ("WHERE state = ?", (state,)) if state else ("", ())
        rows = await self.database.fetch_all(
            f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*parameters, limit, offset),
        )
        return [Run.model_validate(dict(row)) for row in rows]

    async def in_states(self, *states: str) -> list[Run]:
        """Runs in the given states, oldest first (the FIFO order of the queue)."""
        placeholders = ", ".join("?" for _ in states)
        rows = await self.database.fetch_all(
            f"SELECT * FROM runs WHERE state IN ({placeholders}) ORDER BY id", states
        )
        return [Run.model_validate(dict(row)) for row in rows]

    async def for_issue(self, forge: str, repo: str, number: int) -> list[Run]:
        """Every run of one issue/PR, newest first."""
        rows = await self.database.fetch_all(
            "SELECT * FROM runs WHERE forge = ? AND repo = ? AND number = ? ORDER BY id DESC",
            (forge, repo, number),
        )
        return [Run.model_validate(dict(row)) for row in rows]

    async def active_for_issue(self, forge: str, repo: str, number: int) -> list[Run]:
        return [run for run in await self.for_issue(forge, repo, number) if run.state.is_active]
