"""Turn Gitea/Forgejo label snapshots into added/removed labels against the set last seen."""

from __future__ import annotations

from collections.abc import Collection

from bot.events import LabelEvent


def diff_label_snapshot(
    previous: Collection[str] | None, current: Collection[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return `(added, removed)`, each sorted, going from `previous` to `current`.

    `previous` is the label set the bot last stored for the issue. `None` means the bot has
    never seen this issue: it is treated as an empty set, so every current label counts as
    added (a label put on an issue before the bot knew it still triggers once, rather than
    being silently absorbed into the baseline). Duplicates are ignored.
    """
    before = set(previous or ())
    after = set(current)
    return tuple(sorted(after - before)), tuple(sorted(before - after))


def resolve_label_event(event: LabelEvent, previous: Collection[str] | None) -> LabelEvent:
    """Fill in `labels_added`/`labels_removed` of a snapshot event from the stored set.

    Events that already name their change (GitHub's, `labels_are_snapshot=False`) are
    returned unchanged. `previous` follows `diff_label_snapshot` (None = never seen).
    """
    if not event.labels_are_snapshot:
        return event
    added, removed = diff_label_snapshot(previous, event.current_labels)
    return event.model_copy(update={"labels_added": added, "labels_removed": removed})
