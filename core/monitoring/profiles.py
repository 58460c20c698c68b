"""A bounded cache of reference profiles, so a scheduled run never re-fits the reference.

Keys hold the reference content digest, so a changed reference file is fitted again and an
unchanged one never is, whichever monitor or process asks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class ProfileCache:
    """A thread-safe LRU cache of detector profiles with hit and miss counts."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_fit(self, key: Hashable, fit: Callable[[], Any]) -> Any:
        """Return the cached profile for ``key``, fitting (outside the lock) on a miss."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            self.misses += 1
        profile = fit()
        with self._lock:
            self._entries[key] = profile
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return profile

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
