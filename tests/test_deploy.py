"""docker compose files, checked without Docker: the pieces name each other correctly, every
variable deploy/routes.yaml reads reaches the container, images are pinned, the dashboard
and the alert rules ask for series the service really exports (promtool, when installed,
checks and unit-tests the rules)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from app.cli import cli
from app.routing.config import load_config
from app.sources import SOURCE_MODULES
from feeding import feed, post_fixture
from fixtures import load
from process import free_port, signalbox
from providers.webhook import FakeReceiver
from service import LOG_ONLY, serve

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
METRIC = re.compile(r"\bsignalbox_[a-z0-9_]+\b")
SELECTOR = re.compile(r"\b(signalbox_[a-z0-9_]+)(?:\{([^}]*)\})?")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+(-[\w.-]+)?$")


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))
    return doc


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "dashboards" / "signalbox.json").read_text("utf-8")
    )
    return doc


def test_compose_has_the_stack_with_ports_and_volumes() -> None:
    """Signalbox, Mailpit, Prometheus and Grafana are there with their ports and volumes
    (the services of profiles, e.g. `ha`, start only when asked for)."""
    services = {n: s for n, s in compose()["services"].items() if not s.get("profiles")}
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
    """The image is a pinned python:3.11 slim, runs as uid 10001, keeps /data, checks /healthz."""
    text = (REPO / "Dockerfile").read_text("utf-8")
    assert text.startswith("# ") and "FROM python:3.11." in text and "-slim-" in text
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


def test_images_are_pinned_to_versions() -> None:
    """Every image, the Dockerfile's base included, names an exact version: no `latest`, no
    floating tag, so `docker compose up` runs what was tested."""
    images = [
        service["image"]
        for service in compose()["services"].values()
        if "build" not in service and not service.get("profiles")
    ]
    base = re.findall(r"^FROM (\S+)", (REPO / "Dockerfile").read_text("utf-8"), re.M)
    assert len(images) == 3 and len(base) == 1
    for image in (*images, *base):
        assert PINNED.match(image), image
        assert "latest" not in image, image


def routes_variables() -> set[str]:
    """The variables deploy/routes.yaml's values refer to (comments aside)."""
    found: set[str] = set()
    nodes = [yaml.compose((DEPLOY / "routes.yaml").read_text("utf-8"))]
    while nodes:
        node = nodes.pop()
        if isinstance(node, yaml.ScalarNode):
            found.update(REFERENCE.findall(node.value))
        elif isinstance(node, yaml.SequenceNode):
            nodes.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            nodes.extend(value for _, value in node.value)
    return found


def test_every_variable_routes_yaml_reads_reaches_the_container() -> None:
    """Each ${VAR} in deploy/routes.yaml is passed to signalbox from the host or .env (and
    documented in .env.example); an unset one keeps the file's default."""
    env = compose()["services"]["signalbox"]["environment"]
    wanted = routes_variables()
    assert {"SMTP_HOST", "ONCALL_EMAIL", "SLACK_WEBHOOK_URL", "JENKINS_WEBHOOK_TOKEN"} <= wanted
    example = (REPO / ".env.example").read_text("utf-8")
    for name in wanted:
        assert env.get(name) == f"${{{name}:-}}", name
        assert re.search(rf"^{name}=", example, re.M), name
    assert ".env" in (REPO / ".gitignore").read_text("utf-8").split()


def test_routes_file_passes_signalbox_check() -> None:
    """`signalbox check deploy/routes.yaml` exits 0 with nothing set and with a real relay."""
    for env in ({}, {"SMTP_HOST": "smtp.example.com", "SMTP_PORT": "587", "SMTP_STARTTLS": "true"}):
        clean = {name: None for name in routes_variables()} | env
        result = CliRunner().invoke(cli, ["check", str(DEPLOY / "routes.yaml")], env=clean)
        assert result.exit_code == 0, result.output
    relay = load_config(DEPLOY / "routes.yaml", {"SMTP_PORT": "587", "SMTP_STARTTLS": "true"})
    mail = relay.channels["oncall-mail"]
    assert mail.model_dump(include={"port", "starttls"}) == {"port": 587, "starttls": True}


def receivers(name: str, status: str | None = None) -> set[str]:
    """Who the compose routes.yaml sends a fixture's events to."""
    config = load_config(DEPLOY / "routes.yaml", {})
    fixture = load(name)
    source = SOURCE_MODULES[name.split("/", 1)[0]]
    found = set()
    for event in source.parse(fixture.headers, fixture.payload):
        if status is not None:
            event.labels["status"] = status
        found |= set(config.decide(event.labels).receivers)
    return found


def test_compose_routes_mail_alerts_firing_and_resolved_and_ci_failures() -> None:
    """Firing and resolved alerts and failed CI runs are mailed; other runs go to the console."""
    mail = {"oncall-mail", "ops-slack"}
    assert receivers("alertmanager/firing.multi.v4_fingerprint.json") == mail
    assert receivers("alertmanager/resolved.multi.v4_2019_no_fingerprint.json") == mail
    assert receivers("gitlab/pipeline_hook.failed.json") == mail
    assert receivers("github/workflow_run.completed.success.json") == {"console"}


def test_prometheus_scrapes_the_signalbox_service() -> None:
    """Prometheus's target is the compose service name and port, at /metrics."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text("utf-8"))
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


def matches(labels: dict[str, str], matchers: str) -> bool:
    for name, op, value in MATCHER.findall(matchers):
        have = labels.get(name, "")
        hit = re.fullmatch(value, have) is not None if "~" in op else have == value
        if hit == op.startswith("!"):
            return False
    return True


def test_every_dashboard_selector_finds_a_series(tmp_path: Path) -> None:
    """Each metric and label selector in the dashboard's PromQL matches a series on the real
    service's /metrics (dead letters and retries included, before any has happened)."""
    with serve(tmp_path) as client:
        feed(client)
        text = client.get("/metrics").text
    exported = [(s.name, s.labels) for f in text_string_to_metric_families(text) for s in f.samples]
    assert not any(name.endswith("_created") for name, _ in exported)
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    selectors = {found for expr in exprs for found in SELECTOR.findall(expr)}
    assert len({name for name, _ in selectors}) >= 15
    for name, matchers in selectors:
        assert any(n == name and matches(labels, matchers) for n, labels in exported), (
            f"{name}{{{matchers}}}"
        )
    titles = " ".join(p["title"] for p in dashboard()["panels"]).lower()
    for topic in ("success rate", "duration", "failures", "sent", "latency", "retries", "dead"):
        assert topic in titles


def test_prometheus_loads_the_alert_rules() -> None:
    """The compose Prometheus gets prometheus.yml and alerts.yml side by side, and the config
    loads the rules file (a path relative to it)."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text("utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    service = compose()["services"]["prometheus"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in service["command"]
    mounts = set(service["volumes"])
    for name in ("prometheus.yml", "alerts.yml"):
        assert f"./deploy/prometheus/{name}:/etc/prometheus/{name}:ro" in mounts
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text("utf-8"))
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"SignalboxDeadLetters", "SignalboxStoreUnavailable"} <= names
    documented = (REPO / "docs" / "operations.md").read_text("utf-8")
    assert all(name in documented for name in names)


def venv_tool(name: str, package: str) -> str:
    """`name` from the venv (`make test` extracts it there from Debian's `package`) or PATH;
    skip the test without it."""
    found = shutil.which(
        name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if found is None:
        pytest.skip(f"{name} is not installed (`make test` extracts it from Debian's {package})")
    return found


def promtool() -> str:
    return venv_tool("promtool", "prometheus")


def test_promtool_accepts_the_config_and_rules_and_their_unit_tests() -> None:
    """promtool checks prometheus.yml with its rule file and passes alerts.test.yml, which
    proves SignalboxDeadLetters fires on the first dead letter of a series that starts at 0
    and does not when the series first appears at 1."""
    tool = promtool()
    for args in (["check", "config", "prometheus.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run([tool, *args], cwd=PROMETHEUS, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


DEAD_END = LOG_ONLY.replace(
    "channels:\n", "channels:\n  hook: { type: webhook, url: 'URL/events', secret: wrong }\n"
).replace("to: [stdout]", "to: [hook]")


def dead_letters(text: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "signalbox_deliveries_total" and sample.labels == {
                "channel": "webhook",
                "outcome": "dead",
            }:
                return sample.value
    return None


def test_first_dead_letter_after_a_start_fires_the_alert(
    tmp_path: Path, fake_receiver: FakeReceiver
) -> None:
    """Scraped from a freshly started `signalbox serve`, the dead-letter series is 0 before
    and 1 after the first dead delivery; fed to promtool, those scrapes fire
    SignalboxDeadLetters."""
    fake_receiver.secret = "right"  # the channel signs with "wrong": 401, a dead letter
    (tmp_path / "routes.yaml").write_text(DEAD_END.replace("URL", fake_receiver.base_url))
    port = free_port()
    with signalbox(tmp_path, port), httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        at_start = dead_letters(client.get("/metrics").text)
        assert post_fixture(client, "gitlab/pipeline_hook.failed.json").status_code == 202
        deadline = time.monotonic() + 10
        while not client.get("/api/deliveries", params={"state": "dead"}).json()["deliveries"]:
            assert time.monotonic() < deadline, "no delivery died"
            time.sleep(0.05)
        after = dead_letters(client.get("/metrics").text)
    assert (at_start, after) == (0, 1)
    unit = {
        "rule_files": [str(PROMETHEUS / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'signalbox_deliveries_total{channel="webhook",outcome="dead"}',
                        "values": f"{at_start:g} {after:g} {after:g}",
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "SignalboxDeadLetters",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "channel": "webhook",
                                    "outcome": "dead",
                                },
                                "exp_annotations": _annotations("SignalboxDeadLetters", "webhook"),
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "unit.yml").write_text(yaml.safe_dump(unit), "utf-8")
    done = subprocess.run(
        [promtool(), "test", "rules", "unit.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _annotations(alert: str, channel: str) -> dict[str, str]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text("utf-8"))
    (rule,) = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == alert]
    return {k: v.replace("{{ $labels.channel }}", channel) for k, v in rule["annotations"].items()}
