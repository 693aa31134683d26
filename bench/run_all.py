"""Runs every benchmark and prints one table of the ratios: `python bench/run_all.py`.

Each benchmark runs in its own process and ends with a `RESULT {json}` line; the figures are
measured side by side within each benchmark (ours against its baseline in the same run), since
absolute times on shared machines drift.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script: str, *arguments: str) -> list[dict]:
    print(f"running {script} {' '.join(arguments)} …", file=sys.stderr, flush=True)
    completed = subprocess.run(
        [sys.executable, str(HERE / script), *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        print(completed.stdout + completed.stderr, file=sys.stderr)
        raise SystemExit(f"{script} failed with exit code {completed.returncode}")
    return [
        json.loads(line[len("RESULT ") :])
        for line in completed.stdout.splitlines()
        if line.startswith("RESULT ")
    ]


def rows(results: list[dict]) -> list[tuple[str, str, str, str, str]]:
    table = []
    for result in results:
        if result["benchmark"] == "intake":
            kind = result["kind"]
            table.append(
                (
                    f"intake ({kind}): deliveries/s, bot vs bare HMAC endpoint",
                    f"{result['bot_per_s']}",
                    f"{result['bare_per_s']}",
                    f"{result['ratio']:.2f}",
                    ">= 0.6",
                )
            )
            table.append(
                (
                    f"intake ({kind}): p99 at {result['rate']:.0f}/s, ms",
                    f"{result['bot_p99_ms']}",
                    f"{result['bare_p99_ms']}",
                    "",
                    "< 25 ms",
                )
            )
        elif result["benchmark"] == "workspace":
            medians = result["medians_s"]
            baseline = medians[result["baseline"]]
            for name in ("re-run same issue (reset+clean)", "new issue, warm mirror"):
                table.append(
                    (
                        f"workspace: {name} vs fresh clone, s",
                        f"{medians[name]:.3f}",
                        f"{baseline:.3f}",
                        f"{baseline / medians[name]:.1f}x",
                        ">= 5x (repeat)",
                    )
                )
        elif result["benchmark"] == "dispatch":
            table.append(
                (
                    "dispatch: webhook -> agent start, median ms",
                    f"{result['median_ms']}",
                    "",
                    "",
                    "< 300 ms",
                )
            )
            table.append(
                ("dispatch: webhook -> agent start, p95 ms", f"{result['p95_ms']}", "", "", "")
            )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer rounds")
    quick = parser.parse_args().quick
    results = run(
        "intake.py",
        *(
            ["--pairs", "1", "--rounds", "1", "--requests", "500", "--seconds", "2"]
            if quick
            else []
        ),
    )
    results += run(
        "workspace.py", *(["--files", "2000", "--commits", "200", "--runs", "2"] if quick else [])
    )
    results += run("dispatch.py", *(["--samples", "5"] if quick else []))
    table = rows(results)
    headers = ("measure", "ours", "baseline", "ratio", "target")
    widths = [max(len(row[i]) for row in [headers, *table]) for i in range(5)]
    for row in [headers, tuple("-" * width for width in widths), *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
