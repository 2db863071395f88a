"""The JSON log tells one event's story end to end: received, queued, failed, delivered."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from pathlib import Path

import pytest

from app.logs import JsonFormatter, log, setup_logging
from providers.webhook import FakeReceiver
from service import AUTH, serve

ROUTES = """\
sources:
  alertmanager: {{ token: "am-token" }}
channels:
  sink: {{ type: webhook, url: "{url}/in" }}
routes:
  - matchers: ['source="alertmanager"']
    to: [sink]
"""


def test_one_event_can_be_followed_by_its_ids(
    tmp_path: Path, fake_receiver: FakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Every step of an event's delivery logs one JSON line carrying its event or delivery id."""
    fake_receiver.force("http_503")
    caplog.set_level(logging.INFO, logger="signalbox")
    with serve(tmp_path, ROUTES.format(url=fake_receiver.base_url)) as client:
        doc = {"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "Trace"}}]}
        answer = client.post("/hooks/alertmanager", json=doc, headers=AUTH["alertmanager"])
        event_id = answer.json()["event_ids"][0]
        deadline = time.monotonic() + 10
        while not any(r.getMessage() == "delivered" for r in caplog.records):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    story = [
        line
        for line in lines
        if line.get("event_id") == event_id or event_id in line.get("event_ids", [])
    ]
    assert [line["msg"] for line in story] == [
        "event received",
        "delivery queued",
        "delivery failed, will retry",
        "delivered",
    ]
    assert story[0]["receivers"] == ["sink"]
    assert len({line["delivery_id"] for line in story[1:]}) == 1
    assert all(line["receiver"] == "sink" for line in story[1:])


def test_lines_are_json_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our lines (direct path) and other libraries' records (logging path) are one JSON each."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging()
        log(logging.INFO, "event received", event_id="e-1", title="构建失败", routes=["a"])
        log(logging.DEBUG, "below the level")
        logging.getLogger("somelib").warning("from %s", "a library")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("signalbox").exception("crashed")
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = saved
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert [(line["logger"], line["level"], line["msg"]) for line in lines] == [
        ("signalbox", "info", "event received"),
        ("somelib", "warning", "from a library"),
        ("signalbox", "error", "crashed"),
    ]
    assert lines[0]["title"] == "构建失败" and lines[0]["routes"] == ["a"]
    assert "构建失败" in stream.getvalue(), "non-ASCII is written as is"
    assert "ValueError: boom" in lines[2]["exc"]
    assert lines[0]["ts"].endswith("+00:00")
