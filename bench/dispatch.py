"""Dispatch latency: from a signed webhook to the (fake) agent process starting, warm mirror.

Runs the real app in-process against the fake forge on loopback and a local origin; the fake
agent records the moment it starts. Each sample is a new issue (a new workspace made from the
warm mirror). Prints median and p95. Run: `python bench/dispatch.py [--samples N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import pytest  # noqa: E402

from tests.deliveries import load_fixture  # noqa: E402
from tests.engine_world import REPO, make_world  # noqa: E402
from tests.fake_forge import start_fake_forge  # noqa: E402
from tests.harness import make_settings, running_bot  # noqa: E402


async def measure(samples: int, files: int) -> list[float]:
    monkeypatch = pytest.MonkeyPatch()
    root = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    latencies: list[float] = []
    try:
        async with start_fake_forge() as forge:
            world = make_world(root, forge, monkeypatch)
            world.origin.commit(
                files={f"src/file{index}.txt": f"{index}\n" for index in range(files)}
            )
            world.act("")
            settings = make_settings(root, forge.url, logging={"level": "WARNING"})
            async with running_bot(settings, forge) as bot:
                for sample in range(samples + 1):  # the first one warms the mirror
                    number = 100 + sample
                    forge.add_issue(REPO, number, f"Issue {number}", "body", author="alice")
                    payload = copy.deepcopy(load_fixture("gitea/issue_comment.created.modern.json"))
                    comment_id = forge.add_comment(REPO, number, "/dispatch claude go", "alice")
                    payload["comment"].update({"id": comment_id, "body": "/dispatch claude go"})
                    payload["comment"]["user"]["login"] = payload["sender"]["login"] = "alice"
                    payload["issue"]["number"] = number
                    before = len(world.agent_runs())
                    sent = time.time()
                    response = await bot.deliver(
                        "forgejo", payload, "issue_comment", "issue_comment", wait=False
                    )
                    assert response.status == 202, await response.text()
                    while len(world.agent_runs()) == before:
                        await asyncio.sleep(0.002)
                    started = world.agent_runs()[-1]["started"]
                    if sample:
                        latencies.append((started - sent) * 1000)
                    await bot.services.scheduler.idle()
    finally:
        monkeypatch.undo()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--files", type=int, default=500, help="files in the test repository")
    arguments = parser.parse_args()
    latencies = sorted(asyncio.run(measure(arguments.samples, arguments.files)))
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    print(f"dispatch benchmark: {len(latencies)} samples, repository of {arguments.files} files")
    print(
        f"webhook -> agent start: median {statistics.median(latencies):.1f} ms, "
        f"p95 {p95:.1f} ms (target: median < 300 ms)"
    )
    result = {
        "benchmark": "dispatch",
        "median_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(p95, 1),
        "samples": len(latencies),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
