"""Operating endpoints over real HTTP: config state and reload, health, metrics, API auth."""

from __future__ import annotations

import base64
from pathlib import Path

from service import LOG_ONLY, alert, alertmanager_body, serve


def test_config_shows_state_without_secrets(tmp_path: Path) -> None:
    """GET /api/config gives hash, load time and open sources, and never a secret value."""
    routes = LOG_ONLY.replace('github: { secret: "gh-secret" }', "github: {}")
    with serve(tmp_path, routes) as client:
        state = client.get("/api/config").json()
    assert len(state["hash"]) == 12
    assert state["loaded_at"]
    assert state["last_error"] is None
    assert state["unauthenticated_sources"] == ["github"]
    text = str(state)
    assert "gl-token" not in text and "am-token" not in text


def test_reload_keeps_rules_on_a_bad_edit(tmp_path: Path) -> None:
    """POST /-/reload with a broken file answers 400 naming file, line and the kind of
    problem (not the channel: API errors quote nothing from the file); old rules stay."""
    with serve(tmp_path) as client:
        before = client.get("/api/config").json()["hash"]
        (tmp_path / "routes.yaml").write_text(
            LOG_ONLY.replace("to: [stdout]", "to: [nowhere]"), encoding="utf-8"
        )
        refused = client.post("/-/reload")
        assert refused.status_code == 400
        detail = refused.json()["detail"]
        assert detail.endswith("routes.yaml:11: undefined channel in route 0")
        state = client.get("/api/config").json()
        assert state["hash"] == before
        assert state["last_error"] == detail
        metrics = client.get("/metrics").text
        assert "config_last_reload_successful 0.0" in metrics
        (tmp_path / "routes.yaml").write_text(
            LOG_ONLY.replace("fallback: [stdout]", ""), encoding="utf-8"
        )
        accepted = client.post("/-/reload")
        assert accepted.status_code == 200
        assert accepted.json()["hash"] != before
        assert "config_last_reload_successful 1.0" in client.get("/metrics").text


def test_health_and_readiness(tmp_path: Path) -> None:
    """/healthz says alive; /readyz checks the store can commit."""
    with serve(tmp_path) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"store_writable": True, "config_loaded": True}


def test_metrics_count_received_events(tmp_path: Path) -> None:
    """Accepted events show in signalbox_events_received_total by source and kind."""
    with serve(tmp_path) as client:
        doc = alertmanager_body(alert("X"))
        headers = {"authorization": "Bearer am-token"}
        assert client.post("/hooks/alertmanager", json=doc, headers=headers).status_code == 202
        metrics = client.get("/metrics").text
    assert 'signalbox_events_received_total{kind="alert",source="alertmanager"}' in metrics


def test_api_token_guards_api_but_not_hooks_or_health(tmp_path: Path) -> None:
    """With SIGNALBOX_API_TOKEN set, /api/* needs it (bearer or basic); hooks and health don't."""
    with serve(tmp_path, api_token="s3cret-api") as client:
        assert client.get("/api/events").status_code == 401
        assert (
            client.get("/api/events", headers={"authorization": "Bearer nope"}).status_code == 401
        )
        bearer = {"authorization": "Bearer s3cret-api"}
        assert client.get("/api/events", headers=bearer).status_code == 200
        basic = base64.b64encode(b"ops:s3cret-api").decode()
        assert (
            client.get("/api/deliveries", headers={"authorization": f"Basic {basic}"}).status_code
            == 200
        )
        assert client.post("/-/reload").status_code == 401
        assert client.get("/healthz").status_code == 200
        refused = client.get("/api/config")
        assert "s3cret-api" not in refused.text


def test_retry_endpoint_answers_for_unknown_and_live_deliveries(tmp_path: Path) -> None:
    """Retrying a delivery that does not exist is 404; one that is not dead is 409."""
    with serve(tmp_path) as client:
        assert client.post("/api/deliveries/nope/retry").status_code == 404
        doc = alertmanager_body(alert("X"))
        client.post("/hooks/alertmanager", json=doc, headers={"authorization": "Bearer am-token"})
        for _ in range(100):
            sent = client.get("/api/deliveries", params={"state": "sent"}).json()["deliveries"]
            if sent:
                break
        answer = client.post(f"/api/deliveries/{sent[0]['id']}/retry")
        assert answer.status_code == 409
        assert sent[0]["attempts"][0]["outcome"] == "sent"
