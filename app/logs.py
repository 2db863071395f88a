"""One JSON object per log line, so a 3 a.m. grep for an event id finds its whole story."""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

# Lines are written at most this long after they are logged.
GATHER_SECONDS = 0.05

logger = logging.getLogger("signalbox")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class BatchingHandler(logging.Handler):
    """Formats and writes on a thread of its own, one flush per burst of lines.

    A StreamHandler writes and flushes on the event loop for every line; under a storm
    of webhooks that was a tenth of the service's time. Lines queued when the process
    exits are written by the atexit hook; a SIGKILL loses at most the last burst.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        # Records to write; an Event asks for a flush; None stops the writer.
        self._lines: queue.SimpleQueue[logging.LogRecord | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self._writer = threading.Thread(target=self._write_loop, name="log-writer", daemon=True)
        self._writer.start()
        atexit.register(self.close)

    def emit(self, record: logging.LogRecord) -> None:
        self._lines.put(record)

    def _write_loop(self) -> None:
        while True:
            item = self._lines.get()
            # Let a burst gather: waking this thread for every line costs the event loop
            # a thread switch (and the GIL) per line.
            time.sleep(GATHER_SECONDS)
            while isinstance(item, logging.LogRecord):
                self.stream.write(self.format(item) + "\n")
                try:
                    item = self._lines.get_nowait()
                except queue.Empty:
                    break
            self.stream.flush()
            if isinstance(item, threading.Event):
                item.set()
            elif item is None:
                return

    def flush(self) -> None:
        """Return once every line emitted so far is written (shutdown, tests)."""
        if self._writer.is_alive():
            written = threading.Event()
            self._lines.put(written)
            written.wait(timeout=5)

    def close(self) -> None:
        if self._writer.is_alive():
            self._lines.put(None)
            self._writer.join(timeout=5)
        super().close()


def setup_logging(level: int = logging.INFO) -> None:
    handler = BatchingHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request with its full URL, and channel URLs carry their keys
    # (Slack hook paths, WeCom ?key=, DingTalk ?access_token=); our own lines say enough.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))


def log(level: int, msg: str, **fields: Any) -> None:
    # makeRecord + handle, not logger.log: that walks the stack for a caller's file and
    # line on every call, which our lines do not print.
    if logger.isEnabledFor(level):
        record = logger.makeRecord(logger.name, level, "", 0, msg, (), None)
        record.fields = fields
        logger.handle(record)
