"""Dead letters: prediction records the database refused, kept with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import delete, func, select, update

from driftscope import DeadLetter

from .base import StoreBase
from .tables import T_DEAD


class DeadLettersMixin(StoreBase):
    """Keep, list, count, update and delete dead letters."""

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep refused records with their reasons, in one transaction."""
        if not letters:
            return
        rows = [_letter_values(letter) for letter in letters]
        with self._tx("keeping dead letters", write=True) as conn:
            conn.execute(T_DEAD.insert(), rows)

    def list_dead_letters(
        self,
        *,
        model: str | None = None,
        ids: Sequence[int] | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[DeadLetter]:
        """Dead letters in id order, optionally of one model, with the given ids, or after
        ``after_id``."""
        query = select(T_DEAD).order_by(T_DEAD.c.id).limit(limit)
        if after_id is not None:
            query = query.where(T_DEAD.c.id > after_id)
        if model is not None:
            query = query.where(T_DEAD.c.model == model)
        if ids is not None:
            query = query.where(T_DEAD.c.id.in_(list(ids)))
        with self._tx("listing dead letters") as conn:
            rows = conn.execute(query).all()
        return [DeadLetter(**row._asdict()) for row in rows]

    def count_dead_letters(self) -> int:
        """How many dead letters are kept."""
        with self._tx("counting dead letters") as conn:
            return int(conn.execute(select(func.count()).select_from(T_DEAD)).scalar_one())

    def delete_dead_letters(self, ids: Sequence[int]) -> int:
        """Remove dead letters by id; returns how many were removed."""
        if not ids:
            return 0
        with self._tx("deleting dead letters", write=True) as conn:
            result = conn.execute(delete(T_DEAD).where(T_DEAD.c.id.in_(list(ids))))
        return int(result.rowcount)

    def update_dead_letter(self, letter: DeadLetter) -> None:
        """Save a dead letter's reason and attempt count."""
        with self._tx("updating a dead letter", write=True) as conn:
            conn.execute(
                update(T_DEAD)
                .where(T_DEAD.c.id == letter.id)
                .values(reason=letter.reason, attempts=letter.attempts)
            )


def _letter_values(letter: DeadLetter) -> dict[str, Any]:
    values = asdict(letter)
    if values["id"] is None:
        del values["id"]
    return values
