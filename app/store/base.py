"""The storage contract. Nothing outside app/store/ speaks SQL: it calls these methods.

Writes are functions run inside one transaction (`Store.write(fn)`), so a caller can read
history and write the result atomically (pipeline state needs that) without knowing SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from app.events import Event

T = TypeVar("T")


class StoreUnavailable(Exception):
    """The store could not commit; callers must not acknowledge what they were storing."""


@dataclass(frozen=True)
class RunRecord:
    """The last known state of one CI run of one pipeline+branch."""

    run_id: str
    run_order: int | None
    status: str


class WriteTx(Protocol):
    def delivery_seen(self, key: str) -> bool: ...

    def remember_delivery(self, key: str) -> None: ...

    def get_run(self, pipeline_key: str, run_id: str) -> RunRecord | None: ...

    def finished_runs_before(
        self, pipeline_key: str, run: RunRecord, limit: int
    ) -> list[RunRecord]:
        """Finished runs older than `run` (by run_order, then arrival), newest first."""
        ...

    def save_run(self, pipeline_key: str, run: RunRecord) -> None: ...

    def insert_event(self, event: Event, routing: dict[str, Any]) -> None: ...


class ReadTx(Protocol):
    def list_events(
        self, *, limit: int, source: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]: ...

    def count_events(self) -> int: ...


class Store(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, fn: Callable[[WriteTx], T]) -> T:
        """Run `fn` in a transaction; its effects are durable when this returns."""
        ...

    async def read(self, fn: Callable[[ReadTx], T]) -> T: ...

    async def writable(self) -> bool:
        """Whether a write can be committed now (for /readyz)."""
        ...
