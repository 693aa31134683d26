"""The status pages, JSON API, live log stream and admin actions over real HTTP."""

from __future__ import annotations

import time
from pathlib import Path

from bot.store.runs import RunState
from bot.web.keys import OPEN_STREAMS
from tests.harness import TOKEN
from tests.web_world import (
    ADMIN_TOKEN,
    LEAKED,
    json_of,
    read_event,
    services_of,
    until,
)


async def test_api_lists_runs_newest_first_without_secrets(web) -> None:
    client, seeded = web
    body = await json_of(await client.get("/api/runs"))
    assert [run["id"] for run in body["runs"]] == list(range(8, 0, -1))
    assert (body["total"], body["limit"], body["offset"], body["next_offset"]) == (8, 25, 0, None)
    first = body["runs"][-1]
    assert first["state"] == "completed" and first["agent_spec"] == "codex:gpt-5.4-mini"
    assert first["links"]["status_comment"].endswith("/kostekIV/test/issues/1#issuecomment-77")
    assert "handle" not in first and "clone_url" not in first and "workspace_path" not in first
    text = await (await client.get("/api/runs/1")).text()
    assert LEAKED not in text and "***" in text and ADMIN_TOKEN not in text


async def test_api_filters_and_pages(web) -> None:
    client, seeded = web
    queued = await json_of(await client.get("/api/runs?state=queued"))
    assert [run["id"] for run in queued["runs"]] == [8, 7, 6]
    github = await json_of(await client.get("/api/runs?forge=github"))
    assert [run["id"] for run in github["runs"]] == [seeded.cancelled.id]
    assert github["runs"][0]["links"]["issue"].endswith("/octo/hello/pull/7")
    by_repo = await json_of(await client.get("/api/runs?repo=KOSTEKIV/TEST&state=failed"))
    assert [run["id"] for run in by_repo["runs"]] == [seeded.failed.id]
    page = await json_of(await client.get("/api/runs?limit=3&offset=3"))
    assert [run["id"] for run in page["runs"]] == [5, 4, 3] and page["next_offset"] == 6
    last = await json_of(await client.get("/api/runs?limit=3&offset=6"))
    assert [run["id"] for run in last["runs"]] == [2, 1] and last["next_offset"] is None
    for query in ("state=lost", "limit=0", "limit=x", "offset=-1", "limit=1000"):
        problem = await json_of(await client.get(f"/api/runs?{query}"), 400)
        assert problem["error"]


async def test_api_run_detail_and_404s(web) -> None:
    client, seeded = web
    detail = await json_of(await client.get(f"/api/runs/{seeded.blocked.id}"))
    assert detail["question"] == "Which file should hold it?"
    assert detail["links"]["log_stream"] == f"/runs/{seeded.blocked.id}/log/stream"
    huge = "9" * 30
    for path in ("/api/runs/999", "/api/runs/abc", f"/api/runs/{huge}"):
        assert (await json_of(await client.get(path), 404))["status"] == 404
    for path in ("/runs/999", f"/runs/{huge}", "/runs/999/log/stream", f"/runs/{huge}/log/stream"):
        assert (await client.get(path)).status == 404
    assert (await client.get(f"/runs/{seeded.running.id}/log/stream?offset=x")).status == 400
    assert (await client.head(f"/runs/{seeded.running.id}/log/stream")).status == 405
    assert (await json_of(await client.get(f"/api/runs?offset={huge}"), 400))["error"]


async def test_a_log_replaced_by_a_symbolic_link_is_not_followed(web, tmp_path: Path) -> None:
    client, seeded = web
    secret_file = tmp_path / "host-secret.txt"
    secret_file.write_text("host secret that must stay home\n")
    seeded.log.unlink()
    seeded.log.symlink_to(secret_file)
    seeded.prompt.unlink()
    seeded.prompt.symlink_to(secret_file)
    page = await (await client.get(f"/runs/{seeded.running.id}")).text()
    assert "host secret" not in page
    response = await client.get(f"/runs/{seeded.running.id}/log/stream")
    await services_of(client).runs.update(seeded.running.id, state=RunState.FAILED)
    assert await read_event(response) == ("end", "failed")


async def test_api_status_shows_the_queue_with_reasons_pools_and_freeze(web) -> None:
    client, seeded = web
    status = await json_of(await client.get("/api/status"))
    assert status["frozen"] is False and status["running"] == 1
    assert [
        (entry["position"], entry["run"]["id"], entry["reason"]) for entry in status["queue"]
    ] == [
        (1, seeded.behind_limit.id, "pool claude is at its limit of 1"),
        (2, seeded.behind_issue.id, "another run of this issue is active"),
        (3, seeded.behind_pause.id, "pool gemini is paused after repeated quick failures"),
    ]
    pools = {pool["name"]: pool for pool in status["pools"]}
    assert (pools["claude"]["running"], pools["claude"]["limit"]) == (1, 1)
    assert pools["gemini"]["paused_until"] > time.time() + 1700


async def test_index_page_shows_runs_queue_pools_and_escapes_text(web) -> None:
    client, seeded = web
    response = await client.get("/")
    page = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    for run_id in range(1, 9):
        assert f'href="/runs/{run_id}"' in page
    assert "pool claude is at its limit of 1" in page
    assert "another run of this issue is active" in page and "dispatch running" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page
    assert "1 / 1" in page  # claude: running / limit
    filtered = await (await client.get("/?state=blocked")).text()
    assert 'href="/runs/2"' in filtered and 'href="/runs/1"' not in filtered
    assert (await client.get("/?limit=nope")).status == 400


async def test_run_page_shows_fields_links_prompt_and_log_redacted(web) -> None:
    client, seeded = web
    page = await (await client.get(f"/runs/{seeded.completed.id}")).text()
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    assert (
        "#issuecomment-77" in page
        and 'href="https://forge.example.org/kostekIV/test/pulls/9"' in page
    )
    assert LEAKED not in page and "All done." in page
    running = await (await client.get(f"/runs/{seeded.running.id}")).text()
    assert "reading README.md" in running and "Please write the docs." in running
    assert f'data-stream="/runs/{seeded.running.id}/log/stream?offset=' in running
    assert LEAKED not in running and 'id="cancel-form"' in running


async def test_live_stream_sends_new_lines_and_ends_with_the_run(web) -> None:
    client, seeded = web
    response = await client.get(f"/runs/{seeded.running.id}/log/stream?offset=0")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert await read_event(response) == (
        "log",
        "claude working in /workspace/repo\nreading README.md",
    )
    seeded.append(f"editing docs/index.md {LEAKED}\nhalf a li")
    assert await read_event(response) == ("log", "editing docs/index.md ***")
    seeded.append(f"ne\n{TOKEN} done")
    assert await read_event(response) == ("log", "half a line")
    await services_of(client).runs.update(seeded.running.id, state=RunState.COMPLETED)
    assert await read_event(response) == ("log", "*** done")  # the unfinished last line
    assert await read_event(response) == ("end", "completed")
    assert await response.content.read() == b""


async def test_live_stream_resumes_from_last_event_id_and_ends_at_once_when_finished(web) -> None:
    client, seeded = web
    size = seeded.log.stat().st_size
    response = await client.get(
        f"/runs/{seeded.completed.id}/log/stream", headers={"Last-Event-ID": str(size)}
    )
    assert await read_event(response) == ("end", "completed")


async def test_live_stream_is_released_on_disconnect_and_on_shutdown(web) -> None:
    client, seeded = web
    streams = client.server.app[OPEN_STREAMS]
    response = await client.get(f"/runs/{seeded.running.id}/log/stream")
    await read_event(response)
    assert len(streams) == 1
    response.close()
    seeded.append("after the client left\n")

    async def released() -> bool:
        return not streams

    await until(released)
    response = await client.get(f"/runs/{seeded.running.id}/log/stream")
    await read_event(response)
    started = time.monotonic()
    await client.close()  # the stream must not hold the shutdown up
    assert time.monotonic() - started < 5


async def test_an_earlier_runs_page_shows_its_own_log_not_the_latest_runs(web) -> None:
    client, seeded = web
    workspace = Path(seeded.running.workspace_path or "")
    earlier = await services_of(client).runs.create(
        forge="forgejo", repo="kostekIV/test", number=4, agent="claude", trigger="comment",
        actor="alice", task="Write docs (first try)", state=RunState.FAILED,
        workspace_path=str(workspace), created_at=time.time() - 600,
    )  # fmt: skip
    page = await (await client.get(f"/runs/{earlier.id}")).text()
    assert "reading README.md" not in page  # the latest run's log is not this run's
    set_aside = workspace / ".meta" / "previous-runs" / f"run-{earlier.id}"
    set_aside.mkdir(parents=True)
    (set_aside / "agent-claude.log").write_text("the first try gave up\n")
    page = await (await client.get(f"/runs/{earlier.id}")).text()
    assert "the first try gave up" in page and "reading README.md" not in page
    latest = await (await client.get(f"/runs/{seeded.running.id}")).text()
    assert "reading README.md" in latest and "the first try gave up" not in latest
