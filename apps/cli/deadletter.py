"""``driftscope deadletter list|replay|drop``: prediction records the store refused.

The prediction log keeps a record the database refuses for a reason other than an outage (a value a
column cannot hold) in the store's dead-letter table instead of retrying it forever. These commands
show them, write them again (after the cause is fixed), or delete them. Registered on the main CLI
by ``driftscope.apps.cli.main`` with ``register(app)``. Exit codes: 0 done, 1 some letters were
refused again or the store was unavailable, 2 bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from functools import partial
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from driftscope.apps.cli.common import ConfigOption, console, err, fail, get_runtime
from driftscope.core.contracts.store import DeadLetter, Store
from driftscope.core.errors import StoreError

deadletter_app = typer.Typer(
    name="deadletter",
    help="List, replay or drop prediction records the store refused (dead letters).",
    no_args_is_help=True,
)

IdsArgument = Annotated[
    list[int] | None, typer.Argument(help="Dead-letter ids (from `driftscope deadletter list`).")
]
AllOption = Annotated[bool, typer.Option("--all", help="Every dead letter (of --model).")]
ModelOption = Annotated[str | None, typer.Option("--model", help="Only this model's letters.")]
T = TypeVar("T")
# replay and drop work through the table in pages of this many letters
PAGE = 500


def register(app: typer.Typer) -> None:
    """Add the ``deadletter`` command group to the ``driftscope`` CLI."""
    app.add_typer(deadletter_app)


@deadletter_app.command("list")
def list_letters(
    config: ConfigOption = None,
    model: ModelOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 50,
) -> None:
    """Show dead letters, oldest first: id, time, model, record id, attempts and reason."""
    runtime = get_runtime(config, load_models=False, create_store=False)
    try:
        store = runtime.store
        letters = _store_call(lambda: store.list_dead_letters(model=model, limit=limit))
        total = _store_call(store.count_dead_letters)
    finally:
        runtime.close()
    if not letters:
        console.print("no dead letters" + (f" of model {model}" if model else ""), markup=False)
        return
    table = Table("id", "kept at (UTC)", "model", "record id", "attempts", "reason")
    for letter in letters:
        table.add_row(
            str(letter.id),
            f"{letter.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
            escape(letter.model),
            escape(letter.record_id),
            str(letter.attempts),
            escape(letter.reason),
        )
    console.print(table)
    console.print(f"{len(letters)} shown of {total} dead letter(s)", highlight=False)


@deadletter_app.command("replay")
def replay(
    ids: IdsArgument = None,
    config: ConfigOption = None,
    all_: AllOption = False,
    model: ModelOption = None,
) -> None:
    """Write dead letters' records to the store again and remove those that are stored.

    A record the store refuses again stays, with the new reason; fix the cause first (for
    instance register the model's new features by starting the API with the new config).
    """
    from driftscope.core.serving.log_writer import ReplayResult, replay_dead_letters

    _check_selection(ids, all_)
    runtime = get_runtime(config, load_models=False, create_store=False)
    total = ReplayResult()
    try:
        store = runtime.store
        seen: set[int] = set()
        after: int | None = None
        while True:
            page = _select(store, ids, model, after)
            if not page:
                break
            seen.update(letter.id for letter in page if letter.id is not None)
            after = max(seen)
            done = _store_call(partial(replay_dead_letters, store, page))
            total.written += done.written
            total.refused.update(done.refused)
            if done.stopped or ids:
                total.stopped = done.stopped
                break
    finally:
        runtime.close()
    _report_missing(ids, seen)
    console.print(f"replayed {len(total.written)} record(s) into the store", highlight=False)
    for letter_id, reason in sorted(total.refused.items()):
        err.print(f"dead letter {letter_id} refused again: {reason}", markup=False)
    if total.stopped:
        fail(f"the store is unavailable, replay stopped: {total.stopped}", code=1)
    if total.refused:
        raise typer.Exit(1)


@deadletter_app.command("drop")
def drop(
    ids: IdsArgument = None,
    config: ConfigOption = None,
    all_: AllOption = False,
    model: ModelOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm dropping with --all.")] = False,
) -> None:
    """Delete dead letters for good (their records are never stored)."""
    _check_selection(ids, all_)
    if all_ and not yes:
        scope = f" of model {model}" if model else ""
        fail(f"--all deletes every dead letter{scope}; add --yes to confirm")
    runtime = get_runtime(config, load_models=False, create_store=False)
    dropped = 0
    seen: set[int] = set()
    try:
        store = runtime.store
        while True:
            page = [letter.id for letter in _select(store, ids, model) if letter.id is not None]
            if not page:
                break
            seen.update(page)
            dropped += _store_call(partial(store.delete_dead_letters, page))
            if ids:
                break
    finally:
        runtime.close()
    _report_missing(ids, seen)
    console.print(f"dropped {dropped} dead letter(s)", highlight=False)


def _check_selection(ids: list[int] | None, all_: bool) -> None:
    if bool(ids) == all_:
        fail("name the dead letters by id, or pass --all (not both)")


def _select(
    store: Store, ids: list[int] | None, model: str | None, after: int | None = None
) -> list[DeadLetter]:
    limit = len(ids) if ids else PAGE
    return _store_call(
        lambda: store.list_dead_letters(model=model, ids=ids, after_id=after, limit=limit)
    )


def _report_missing(ids: list[int] | None, seen: set[int]) -> None:
    missing = sorted(set(ids or ()) - seen)
    if missing:
        err.print(
            f"[yellow]warning:[/] no dead letter with id {', '.join(map(str, missing))}",
            highlight=False,
        )


def _store_call(call: Callable[[], T]) -> T:
    try:
        return call()
    except StoreError as exc:
        fail(str(exc), code=1)
