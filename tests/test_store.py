"""Storage: versioned migrations apply once and in order; rows round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import open_database
from bot.store.inbox import Inbox
from bot.store.migrations import MIGRATIONS
from bot.store.runs import Runs, RunState


async def test_migrations_apply_once_and_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "bot.sqlite3"
    database = await open_database(path)
    assert await database.schema_version() == len(MIGRATIONS)
    run = await Runs(database).create(
        forge="f",
        repo="o/r",
        number=1,
        agent="codex",
        trigger="label",
        actor="a",
        options={"plan": "x"},
        qa_report={"passed": True},
    )
    await database.close()
    database = await open_database(path)  # no migration runs twice
    assert await database.schema_version() == len(MIGRATIONS)
    again = await Runs(database).get(run.id)
    assert (
        again is not None and again.options == {"plan": "x"} and again.qa_report == {"passed": True}
    )
    tables = {
        row[0]
        for row in await database.fetch_all("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert {
        "inbox",
        "runs",
        "label_snapshots",
        "pool_backoff",
        "flags",
        "comment_actions",
        "outbox",
    } <= tables
    await database.close()


async def test_an_old_database_is_migrated_forward(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    database = await open_database(":memory:")
    await database.close()
    import aiosqlite

    connection = await aiosqlite.connect(str(path))
    await connection.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version = 1;\nCOMMIT;")
    await connection.close()
    database = await open_database(path)
    assert await database.schema_version() == len(MIGRATIONS)
    columns = {row[1] for row in await database.fetch_all("PRAGMA table_info(runs)")}
    assert {"timing", "qa_report", "final_message"} <= columns
    await database.close()


async def test_claim_for_start_is_atomic(tmp_path: Path) -> None:
    database = await open_database(tmp_path / "bot.sqlite3")
    runs = Runs(database)
    run = await runs.create(
        forge="f", repo="o/r", number=1, agent="codex", trigger="cli", actor="a"
    )
    assert await runs.claim_for_start(run.id) is True
    assert await runs.claim_for_start(run.id) is False
    assert (await runs.get(run.id)).state is RunState.RUNNING
    await database.close()


@pytest.mark.parametrize(
    ("running", "queued", "limits", "claimed"),
    [
        # (agent, model, repo, issue) of the run already running, and of the one being claimed.
        (("codex", None, "o/r", 1), ("claude", None, "o/r", 2), {"total": 1}, False),
        (("codex", None, "o/r", 1), ("claude", None, "o/r", 2), {"total": 2}, True),
        (("codex", None, "o/r", 1), ("codex", None, "o/r", 2), {"pool_total": 1}, False),
        (("codex", None, "o/r", 1), ("claude", None, "o/r", 2), {"pool_total": 1}, True),
        (("codex", "o3", "o/r", 1), ("codex", "o3", "o/r", 2), {"model_total": 1}, False),
        (("codex", "o3", "o/r", 1), ("codex", "o4", "o/r", 2), {"model_total": 1}, True),
        (("codex", None, "o/r", 1), ("codex", None, "o/r", 2), {"model_total": 1}, False),
        (("codex", None, "o/r", 1), ("claude", None, "o/r", 1), {}, False),  # one per issue
        (("codex", None, "O/R", 1), ("codex", None, "o/r", 1), {}, False),  # whatever the case
        (("codex", None, "o/r", 1), ("codex", None, "o/r", 2), {"total": 0}, True),
    ],
)
async def test_a_claim_checks_the_limits_again_against_the_runs_running_now(
    tmp_path: Path,
    running: tuple[str, str | None, str, int],
    queued: tuple[str, str | None, str, int],
    limits: dict[str, int],
    claimed: bool,
) -> None:
    # Another process started `running` after this one decided to start `queued`.
    database = await open_database(tmp_path / "bot.sqlite3")
    runs = Runs(database)
    created = []
    for agent, model, repo, number in (running, queued):
        created.append(
            await runs.create(
                forge="f",
                repo=repo,
                number=number,
                agent=agent,
                model=model,
                trigger="cli",
                actor="a",
            )
        )
    assert await runs.claim_for_start(created[0].id) is True
    assert await runs.claim_for_start(created[1].id, **limits) is claimed
    expected = RunState.RUNNING if claimed else RunState.QUEUED
    assert (await runs.get(created[1].id)).state is expected
    await database.close()


async def test_version_3_moves_outcomes_out_of_the_inbox_and_keeps_every_delivery(
    tmp_path: Path,
) -> None:
    import aiosqlite

    path = tmp_path / "bot.sqlite3"
    connection = await aiosqlite.connect(str(path))
    script = "\n".join(MIGRATIONS[:2])
    await connection.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = 2;\nCOMMIT;")
    insert = (
        "INSERT INTO inbox (forge, delivery_id, event, event_type, body, received_at,"
        " processed_at, outcome, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    await connection.execute(
        insert, ("f", "done", "issues", None, b"{1}", 1.0, 2.0, "queued", None)
    )
    await connection.execute(insert, ("f", "pending", "issues", "x", b"{2}", 3.0, None, None, None))
    await connection.execute(
        insert, ("f", "failed", "issues", None, b"{3}", 4.0, 5.0, "error", "E")
    )
    await connection.commit()
    await connection.close()

    database = await open_database(path)
    assert await database.schema_version() == len(MIGRATIONS)
    inbox = Inbox(database)
    assert [row.delivery_id for row in await inbox.unprocessed()] == ["pending"]
    assert (await inbox.unprocessed())[0].body == b"{2}"
    assert await inbox.outcome("f", "done") == "queued"
    assert await inbox.outcome("f", "pending") is None
    outcomes = await database.fetch_all(
        "SELECT processed_at, outcome, error FROM inbox_outcomes ORDER BY inbox_id"
    )
    assert [tuple(row) for row in outcomes] == [(2.0, "queued", None), (5.0, "error", "E")]
    columns = [row[1] for row in await database.fetch_all("PRAGMA table_info(inbox)")]
    assert columns[-1] == "body" and "processed_at" not in columns
    # Delivery ids stay unique, and a new delivery goes on from the old ones.
    assert await inbox.add("f", "done", "issues", None, b"{}") is None
    assert await inbox.add("f", "new", "issues", None, b"{}") == 4
    await database.close()
