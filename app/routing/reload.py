"""Holds the routes.yaml in force: load → validate → atomic swap, and hot reload.

Callers read `holder.current` once per event and route the whole event with that one
immutable RoutingConfig, so a reload can never split an event across two versions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from watchfiles import Change, awatch

from app.events import utcnow
from app.metrics import CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP, CONFIG_LAST_RELOAD_SUCCESSFUL
from app.routing.config import ConfigInvalid, RoutingConfig, load_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    """What one reload attempt did. `error` is every problem, one `file:line: kind` a line,
    in public form: it quotes nothing from the file (app/routing/errors.py)."""

    ok: bool
    changed: bool
    hash: str
    error: str | None = None
    warnings: tuple[str, ...] = ()


class ConfigHolder:
    """The current routing config and the story of its reloads."""

    def __init__(self, path: str | Path, env: Mapping[str, str] | None = None) -> None:
        """Load `path` now; raise ConfigInvalid if it is invalid (nothing to fall back to)."""
        self.path = Path(path)
        self._env = env
        self._lock = threading.Lock()
        self._current = load_config(self.path, env)
        self.last_error: str | None = None
        self.last_success_at: datetime = self._current.loaded_at
        self._listeners: list[Callable[[RoutingConfig], None]] = []
        self._record(ok=True)
        for warning in self._current.warnings:
            log.warning("%s: %s", self.path, warning)

    def on_change(self, listener: Callable[[RoutingConfig], None]) -> None:
        """Call `listener` with every new config swapped in, from the thread that loaded it."""
        self._listeners.append(listener)

    @property
    def current(self) -> RoutingConfig:
        """The config in force; take it once per event."""
        return self._current

    def reload(self) -> ReloadResult:
        """Re-read the file and swap it in if valid; never raises for a bad file."""
        with self._lock:  # HTTP, SIGHUP and the watcher may ask at once
            try:
                config = load_config(self.path, self._env)
            except ConfigInvalid as exc:
                # The log (the owner's) gets the full form, with the traceback when loading
                # raised something unforeseen; the API and console the public one.
                log.error(
                    "routes.yaml rejected, keeping %s:\n%s",
                    self._current.hash,
                    exc,
                    exc_info=exc.__cause__,
                )
                self.last_error = exc.public()
                self._record(ok=False)
                return ReloadResult(False, False, self._current.hash, error=self.last_error)
            changed = config.hash != self._current.hash
            if changed:
                self._current = config  # one attribute store: readers see old or new
                for warning in config.warnings:
                    log.warning("%s: %s", self.path, warning)
                log.info("routes.yaml %s loaded", config.hash)
                for listener in self._listeners:
                    listener(config)
            self.last_error = None
            self.last_success_at = utcnow()
            self._record(ok=True)
            return ReloadResult(True, changed, config.hash, warnings=config.warnings)

    def _record(self, *, ok: bool) -> None:
        CONFIG_LAST_RELOAD_SUCCESSFUL.set(1 if ok else 0)
        if ok:
            CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP.set(self.last_success_at.timestamp())

    def status(self) -> dict[str, object]:
        """For GET /api/config: the version in force and the last reload error, no secrets."""
        return {
            **self._current.summary(),
            "last_error": self.last_error,
            "last_success_at": self.last_success_at.isoformat(),
        }

    def _watched_dirs(self) -> tuple[Path, ...]:
        """The file's directory and, when it is a symlink, its final target's directory."""
        target = Path(os.path.realpath(self.path))
        found: dict[str, Path] = {}
        for directory in (self.path.absolute().parent, target.parent):
            if directory.is_dir():
                found.setdefault(os.path.realpath(directory), directory)
        return tuple(found.values())

    def _concerns_config(self, _change: Change, path: str) -> bool:
        name = Path(path).name
        # Kubernetes ConfigMaps swap a `..data` symlink rather than touching the file.
        target = Path(os.path.realpath(self.path)).name
        return name in (self.path.name, target) or name.startswith("..")

    async def watch(self, stop: asyncio.Event | None = None, debounce_ms: int = 200) -> None:
        """Reload on every change to the file until `stop` is set or the task is cancelled.

        Watches the file's directory, not the file: editors that save by writing a temp
        file and renaming it (vim, `sed -i`, atomic saves) and delete-then-recreate replace
        the inode, which a watch on the file itself would lose. A symlinked file's target
        directory is watched too, so edits to the target are seen; when the link is
        pointed elsewhere the watch follows. Nothing ends the watch but `stop`: a failure
        to watch is logged and the watch started again a second later.
        """
        while stop is None or not stop.is_set():
            dirs = self._watched_dirs()
            try:
                async for _changes in awatch(
                    *dirs,
                    watch_filter=self._concerns_config,
                    debounce=debounce_ms,
                    step=50,
                    stop_event=stop,
                    recursive=False,
                ):
                    # Loading is a few ms of CPU; a thread keeps the event loop serving.
                    await asyncio.to_thread(self.reload)
                    if self._watched_dirs() != dirs:
                        break  # the link points elsewhere now: watch its new directory
                else:
                    return  # awatch ends only when `stop` is set
            except Exception:
                log.exception("watching %s failed; watching again in 1 s", self.path)
                await asyncio.sleep(1)
