"""A pytest plugin for a generated service's tests (``-p aiosqlite_lag``): aiosqlite's connection
thread waits half a second before it stops a connection, as it may on a loaded machine.

A test that lets such a stop report to an event loop already closed (aiosqlite#241) then fails the
test after it every time, instead of once in a few runs.
"""

from __future__ import annotations

import time
from typing import Any

import aiosqlite.core

_worker = aiosqlite.core._connection_worker_thread


class _LaggingQueue:
    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def get(self) -> Any:
        item = self._queue.get()
        if getattr(item[1], "__name__", "") == "close_and_stop":
            time.sleep(0.5)
        return item


def _connection_worker_thread(tx: Any) -> None:  # the name its threads are known by
    _worker(_LaggingQueue(tx))


aiosqlite.core._connection_worker_thread = _connection_worker_thread
