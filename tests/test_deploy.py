"""docker compose files, checked without Docker: the pieces name each other correctly and
the dashboard only asks for metrics the service really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.routing.config import load_config
from feeding import feed
from service import serve

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
METRIC = re.compile(r"\bsignalbox_[a-z0-9_]+\b")


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))
    return doc


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "dashboards" / "signalbox.json").read_text("utf-8")
    )
    return doc


def test_compose_has_the_stack_with_ports_and_volumes() -> None:
    """Signalbox, Mailpit, Prometheus and Grafana are there with their ports and volumes."""
    services = compose()["services"]
    assert set(services) == {"signalbox", "mailpit", "prometheus", "grafana"}
    assert "8080:8080" in services["signalbox"]["ports"]
    assert "signalbox-data:/data" in services["signalbox"]["volumes"]
    assert "/healthz" in " ".join(services["signalbox"]["healthcheck"]["test"])
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert {"8025:8025", "1025:1025"} <= set(services["mailpit"]["ports"])
    assert "9090:9090" in services["prometheus"]["ports"]
    assert "3000:3000" in services["grafana"]["ports"]
    assert set(compose()["volumes"]) >= {"signalbox-data"}
    for service in services.values():
        for volume in service.get("volumes", []):
            host = volume.split(":", 1)[0]
            if host.startswith("./"):
                assert (REPO / host).exists(), volume


def test_dockerfile_is_slim_non_root_with_a_healthcheck() -> None:
    """The image is python:3.11-slim, runs as uid 10001, keeps /data and checks /healthz."""
    text = (REPO / "Dockerfile").read_text("utf-8")
    assert text.startswith("# ") and "FROM python:3.11-slim" in text
    assert "USER 10001" in text
    assert 'VOLUME ["/data"]' in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "pip install ." in text


def test_compose_routes_mail_to_mailpit_in_plain_smtp() -> None:
    """The compose routes.yaml is valid and its email channel points at mailpit:1025, plain."""
    env = compose()["services"]["signalbox"]["environment"]
    assert env["SIGNALBOX_CONFIG"] == "/etc/signalbox/routes.yaml"
    config = load_config(DEPLOY / "routes.yaml", {})
    mail = config.channels["oncall-mail"]
    assert mail.model_dump(include={"type", "host", "port", "starttls", "tls"}) == {
        "type": "email",
        "host": "mailpit",
        "port": 1025,
        "starttls": False,
        "tls": False,
    }


def test_prometheus_scrapes_the_signalbox_service() -> None:
    """Prometheus's target is the compose service name and port, at /metrics."""
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text("utf-8"))
    (job,) = config["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    port = compose()["services"]["signalbox"]["environment"]["SIGNALBOX_PORT"]
    assert job["static_configs"][0]["targets"] == [f"signalbox:{port}"]


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard() -> None:
    """The datasource is the compose Prometheus; the dashboard folder is the mounted one."""
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "signalbox.yml").read_text())
    mounted = "./deploy/grafana/dashboards:" + providers["providers"][0]["options"]["path"]
    assert any(v.startswith(mounted) for v in compose()["services"]["grafana"]["volumes"])
    panels = dashboard()["panels"]
    uids = {t["datasource"]["uid"] for p in panels for t in p.get("targets", [])}
    assert uids == {source["uid"]}


def test_every_dashboard_metric_is_exported(tmp_path: Path) -> None:
    """Each metric name in the dashboard's PromQL appears on the real service's /metrics."""
    with serve(tmp_path) as client:
        feed(client)
        text = client.get("/metrics").text
    exported = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert len(used) >= 15
    assert used <= exported, used - exported
    titles = " ".join(p["title"] for p in dashboard()["panels"]).lower()
    for topic in ("success rate", "duration", "failures", "sent", "latency", "retries", "dead"):
        assert topic in titles
