"""Table tests of which queued runs may start: FIFO, global/pool/model limits, pauses, freeze."""

from __future__ import annotations

import pytest

from bot.config.models import ConcurrencyConfig
from bot.engine.limits import claim_limits, select_runs_to_start
from bot.store.runs import Run, RunState


def run(
    run_id: int,
    agent: str = "codex",
    model: str | None = None,
    number: int | None = None,
    state: RunState = RunState.QUEUED,
) -> Run:
    return Run(
        id=run_id,
        forge="f",
        repo="o/r",
        number=number or run_id,
        agent=agent,
        model=model,
        trigger="comment",
        actor="a",
        state=state,
        created_at=0,
    )


def limits(**data: object) -> ConcurrencyConfig:
    return ConcurrencyConfig.model_validate(data)


@pytest.mark.parametrize(
    ("queued", "running", "config", "paused", "frozen", "expected"),
    [
        # FIFO, everything fits
        ([run(1), run(2)], [], limits(total=4), {}, False, [1, 2]),
        # the global limit counts running runs
        (
            [run(1), run(2), run(3)],
            [run(9, state=RunState.RUNNING)],
            limits(total=3),
            {},
            False,
            [1, 2],
        ),
        # 0 = unlimited
        ([run(i) for i in range(1, 8)], [], limits(total=0), {}, False, [1, 2, 3, 4, 5, 6, 7]),
        # a full pool does not hold up another pool's later run
        (
            [run(1, "codex"), run(2, "codex"), run(3, "claude")],
            [],
            limits(total=9, codex=1),
            {},
            False,
            [1, 3],
        ),
        # per-model limit inside a pool
        (
            [run(1, "codex", "mini"), run(2, "codex", "mini"), run(3, "codex", "big")],
            [],
            limits(total=9, codex={"total": 3, "mini": 1}),
            {},
            False,
            [1, 3],
        ),
        # pool total still applies with model limits
        (
            [run(1, "codex", "a"), run(2, "codex", "b")],
            [run(9, "codex", "c", state=RunState.RUNNING)],
            limits(codex={"total": 2}),
            {},
            False,
            [1],
        ),
        # one active run per issue: a queued run behind a running one of the same issue waits
        (
            [run(1, number=5), run(2, number=6)],
            [run(9, number=5, state=RunState.RUNNING)],
            limits(),
            {},
            False,
            [2],
        ),
        # two queued runs of one issue: only the first starts
        ([run(1, number=5), run(2, number=5)], [], limits(), {}, False, [1]),
        # a paused pool waits, others go on
        ([run(1, "codex"), run(2, "claude")], [], limits(), {"codex": 1e12}, False, [2]),
        # frozen: nothing starts
        ([run(1), run(2)], [], limits(), {}, True, []),
    ],
)
def test_selection(queued, running, config, paused, frozen, expected) -> None:
    selection = select_runs_to_start(queued, running, config, paused_pools=paused, frozen=frozen)
    assert [r.id for r in selection.start] == expected
    assert {w.run_id for w in selection.waiting} == {r.id for r in queued} - set(expected)


def test_waiting_reasons_name_the_limit() -> None:
    selection = select_runs_to_start(
        [run(1, "codex"), run(2, "codex")], [], limits(codex=1), paused_pools={}
    )
    assert selection.waiting[0].reason == "pool codex is at its limit of 1"
    frozen = select_runs_to_start([run(1)], [], limits(), frozen=True)
    assert frozen.waiting[0].reason == "dispatch is frozen"


@pytest.mark.parametrize(
    ("claimed", "config", "expected"),
    [
        (run(1), {}, {"total": 4, "pool_total": 0, "model_total": 0}),
        (run(1), {"total": 0}, {"total": 0, "pool_total": 0, "model_total": 0}),
        (run(1), {"codex": 2}, {"total": 4, "pool_total": 2, "model_total": 0}),
        (run(1, "claude"), {"codex": 2}, {"total": 4, "pool_total": 0, "model_total": 0}),
        (
            run(1, model="o3"),
            {"total": 9, "codex": {"total": 3, "o3": 1}},
            {"total": 9, "pool_total": 3, "model_total": 1},
        ),
        (
            run(1, model="o4"),
            {"codex": {"o3": 1}},
            {"total": 4, "pool_total": 0, "model_total": 0},
        ),
    ],
)
def test_claim_limits_are_the_ones_the_decision_applies(
    claimed: Run, config: dict[str, object], expected: dict[str, int]
) -> None:
    assert claim_limits(claimed, limits(**config)) == expected
