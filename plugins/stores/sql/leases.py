"""Named leases: one owner at a time until the lease expires (the scheduler's lock)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, or_

from .base import StoreBase
from .tables import T_LEASES


class LeasesMixin(StoreBase):
    """Take, renew and release named leases atomically."""

    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew a lease atomically; False when another owner holds an unexpired one.

        A lease expires ``ttl_seconds`` after it was taken, by the store's clock: from that
        instant on, another owner may take it."""
        now = self._clock()
        expires = now + timedelta(seconds=ttl_seconds)
        insert = self._dialect.insert(T_LEASES)
        stmt = (
            insert.values(name=name, owner=owner, expires_at=expires)
            .on_conflict_do_update(
                index_elements=["name"],
                set_={"owner": insert.excluded.owner, "expires_at": insert.excluded.expires_at},
                where=or_(T_LEASES.c.expires_at <= now, T_LEASES.c.owner == insert.excluded.owner),
            )
            .returning(T_LEASES.c.owner)
        )
        with self._tx(f"acquiring lease {name!r}", write=True) as conn:
            row = conn.execute(stmt).first()
        return row is not None and row[0] == owner

    def release_lease(self, name: str, owner: str) -> None:
        """Drop the lease if ``owner`` holds it."""
        with self._tx(f"releasing lease {name!r}", write=True) as conn:
            conn.execute(
                delete(T_LEASES).where(and_(T_LEASES.c.name == name, T_LEASES.c.owner == owner))
            )
