"""What the on-call tests share: a routes.yaml paging webhook receivers, firing an alert
over HTTP, and reading one event's story back."""

from __future__ import annotations

from typing import Any

import httpx

from providers.webhook import FakeReceiver
from service import AUTH, alert, alertmanager_body


def paging_routes(
    receiver: FakeReceiver,
    matcher: str = 'source="alertmanager"',
    channels: tuple[str, ...] = ("page",),
    route_settings: str = "",
) -> str:
    """Alertmanager (and GitLab) in; one webhook channel per name, at /<name> of the
    receiver; one route from `matcher` to the first, with `route_settings` lines."""
    hooks = "".join(
        f'  {name}: {{ type: webhook, url: "{receiver.base_url}/{name}" }}\n' for name in channels
    )
    return f"""\
sources:
  alertmanager: {{ token: "am-token" }}
  gitlab: {{ token: "gl-token" }}
channels:
{hooks}routes:
  - matchers: ['{matcher}']
    to: [{channels[0]}]
{route_settings}"""


def fire(
    client: httpx.Client, name: str = "DiskFull", status: str = "firing", **labels: str
) -> str:
    """Post one alert as Alertmanager does; its event id."""
    body = alertmanager_body(alert(name, status, **labels))
    answer = client.post("/hooks/alertmanager", json=body, headers=AUTH["alertmanager"])
    assert answer.status_code == 202, answer.text
    [event_id] = answer.json()["event_ids"]
    return str(event_id)


def story(client: httpx.Client, event_id: str) -> dict[str, Any]:
    """The event as GET /api/events shows it."""
    events = client.get("/api/events").json()["events"]
    [found] = [e for e in events if e["id"] == event_id]
    return dict(found)
