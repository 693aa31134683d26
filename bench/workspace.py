"""Benchmark: a fresh `git clone` of a large repository vs. repeat workspace preparation."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.engine.git import ensure_mirror, git_environment, prepare_workspace  # noqa: E402
from bot.engine.workspace import workspace_dir  # noqa: E402

IDENTITY = ("Bench Bot", "bench@example.org")
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi".split()  # noqa: SIM905


def file_text(generator: random.Random, version: int) -> bytes:
    lines = [
        f"# version {version}",
        *(" ".join(generator.choices(WORDS, k=10)) for _ in range(generator.randint(10, 40))),
    ]
    return ("\n".join(lines) + "\n").encode()


def fast_import_stream(files: int, commits: int, seed: int = 7) -> bytes:
    """A `git fast-import` stream: all files in the first commit, a few changed per commit."""
    generator = random.Random(seed)
    paths = [f"src/d{n // 1000:02d}/m{(n // 100) % 10}/file_{n}.txt" for n in range(files)]
    parts: list[bytes] = []
    for number in range(1, commits + 1):
        message = f"commit {number}\n".encode()
        header = (
            f"commit refs/heads/main\nmark :{number}\n"
            f"committer Bench <bench@example.org> {1_700_000_000 + number * 60} +0000\n"
            f"data {len(message)}\n"
        ).encode()
        parts += [header, message]
        if number > 1:
            parts.append(f"from :{number - 1}\n".encode())
        changed = paths if number == 1 else generator.sample(paths, 5)
        for path in changed:
            content = file_text(generator, number)
            parts.append(f"M 100644 inline {path}\ndata {len(content)}\n".encode())
            parts += [content, b"\n"]
        parts.append(b"\n")
    return b"".join(parts)


def git(*args: str, cwd: Path | None = None, data: bytes | None = None) -> None:
    subprocess.run(
        ["git", *args], cwd=cwd, input=data, env=git_environment(), check=True, capture_output=True
    )


def make_repository(directory: Path, files: int, commits: int) -> Path:
    origin = directory / "origin.git"
    git("init", "--bare", "--quiet", "--initial-branch=main", str(origin))
    git("fast-import", "--quiet", cwd=origin, data=fast_import_stream(files, commits))
    git("repack", "-a", "-d", "--quiet", cwd=origin)  # as a forge serves it: one pack
    return origin


async def timed(action: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    durations = []
    for _ in range(runs):
        start = time.perf_counter()
        await action()
        durations.append(time.perf_counter() - start)
    return durations


async def run(files: int, commits: int, runs: int, directory: Path) -> None:
    started = time.perf_counter()
    origin = make_repository(directory, files, commits)
    url = f"file://{origin}"
    pack_bytes = sum(path.stat().st_size for path in (origin / "objects" / "pack").glob("*.pack"))
    print(f"repository: {files} files, {commits} commits, pack {pack_bytes / 2**20:.1f} MiB "
          f"(generated in {time.perf_counter() - started:.1f} s)")  # fmt: skip
    mirrors, workspaces, clones = directory / "mirrors", directory / "ws", directory / "clones"
    counter = iter(range(1, 10_000))

    async def fresh_clone() -> None:
        target = clones / f"clone-{next(counter)}"
        await asyncio.to_thread(git, "clone", "--quiet", "--no-local", url, str(target))

    async def prepare(number: int, sharing: str = "hardlink") -> None:
        mirror = await ensure_mirror(mirrors, "bench", "owner/repo", url)
        workspace = workspace_dir(workspaces, "bench", "owner", "repo", number, False)
        await prepare_workspace(
            mirror=mirror, workspace=workspace, clone_url=url, base_branch="main",
            branch=f"agent/issue-{number}", git_identity=IDENTITY, sharing=sharing,  # type: ignore[arg-type]
        )  # fmt: skip

    async def new_issue() -> None:
        await prepare(next(counter))

    async def new_issue_alternates() -> None:
        await prepare(next(counter), "alternates")

    async def rerun_same_issue() -> None:
        repo = workspace_dir(workspaces, "bench", "owner", "repo", 1, False) / "repo"
        for number in range(20):  # what an agent leaves behind
            (repo / "src" / "d00" / "m0" / f"file_{number}.txt").write_text("changed\n")
            (repo / f"untracked-{number}.txt").write_text("new\n")
        await prepare(1)

    first_mirror = await timed(lambda: ensure_mirror(mirrors, "bench", "owner/repo", url), 1)
    await prepare(1)  # the workspace the re-runs reuse
    results = {
        "fresh git clone --no-local": await timed(fresh_clone, runs),
        "first mirror (one-off)": first_mirror,
        "new issue, warm mirror": await timed(new_issue, runs),
        "new issue, warm mirror, alternates": await timed(new_issue_alternates, runs),
        "re-run same issue (reset+clean)": await timed(rerun_same_issue, runs),
    }
    baseline = statistics.median(results["fresh git clone --no-local"])
    print(f"\n{'scenario':<38} {'runs':>4} {'median s':>9} {'min s':>7} {'speed-up':>9}")
    for name, durations in results.items():
        median = statistics.median(durations)
        print(f"{name:<38} {len(durations):>4} {median:>9.3f} {min(durations):>7.3f} "
              f"{baseline / median:>8.1f}x")  # fmt: skip
    print("\n(each warm-mirror figure includes the incremental mirror fetch)")
    medians = {name: statistics.median(durations) for name, durations in results.items()}
    print(
        "RESULT "
        + json.dumps(
            {
                "benchmark": "workspace",
                "medians_s": medians,
                "baseline": "fresh git clone --no-local",
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--commits", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="workspace-bench-"))
    try:
        asyncio.run(run(options.files, options.commits, options.runs, directory))
    finally:
        if options.keep:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
