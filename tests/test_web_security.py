"""The HTTP surface against hostile clients: the real service under uvicorn on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from fixtures import load
from service import serve

# Sources left without a token, as the example routes.yaml leaves Jenkins and Alertmanager.
OPEN_SOURCES = """\
channels:
  stdout: { type: log }
fallback: [stdout]
"""


def _form(name: str) -> bytes:
    return httpx.Request("POST", "/", data={"payload": load(name).body.decode()}).content


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("jenkins", "jenkins/notification_plugin.completed.success.json"),
        ("alertmanager", "alertmanager/firing.multi.v4_fingerprint.json"),
        ("gitlab", "gitlab/pipeline_hook.failed.json"),
    ],
)
def test_only_github_may_post_form_encoded(tmp_path: Path, source: str, name: str) -> None:
    """A form-encoded payload (what an HTML form can send) to any source but GitHub is a 415."""
    headers = {**load(name).headers, "content-type": "application/x-www-form-urlencoded"}
    with serve(tmp_path, OPEN_SOURCES) as client:
        answer = client.post(f"/hooks/{source}", content=_form(name), headers=headers)
        assert answer.status_code == 415, answer.text
        assert answer.json()["error"] == "unsupported media type"
        assert client.get("/api/events").json()["events"] == []
        name_github = "github/workflow_run.completed.success.json"
        github = {**load(name_github).headers, "content-type": headers["content-type"]}
        assert (
            client.post("/hooks/github", content=_form(name_github), headers=github).status_code
            == 202
        )


EVIL = "http://evil.test"


def _reload(client: httpx.Client, **headers: str) -> int:
    return client.post("/-/reload", headers=headers).status_code


def test_state_changing_requests_from_another_site_are_refused(tmp_path: Path) -> None:
    """POSTs whose Origin, Referer or Sec-Fetch-Site say another site sent them get 403;
    the console's own origin and clients that send neither (curl, the CLI) get through."""
    with serve(tmp_path) as client:
        own = str(client.base_url).rstrip("/")
        assert _reload(client, origin=EVIL) == 403
        assert _reload(client, origin="null") == 403
        assert _reload(client, referer=f"{EVIL}/page") == 403
        assert _reload(client, origin=own, **{"sec-fetch-site": "cross-site"}) == 403
        assert _reload(client, origin=own.replace("127.0.0.1", "localhost")) == 403
        refused = client.post("/api/deliveries/x/retry", headers={"origin": EVIL})
        assert refused.status_code == 403
        assert refused.json()["error"] == "cross-site request refused"
        assert "SIGNALBOX_EXTERNAL_URL" in refused.json()["detail"]
        assert client.post("/ui/config/route-test", headers={"origin": EVIL}).status_code == 403

        assert _reload(client) == 200
        assert _reload(client, origin=own) == 200
        assert _reload(client, referer=f"{own}/ui/config") == 200
        assert _reload(client, origin=own, **{"sec-fetch-site": "same-origin"}) == 200
        assert client.get("/api/config", headers={"origin": EVIL}).status_code == 200
        webhook = load("alertmanager/firing.multi.v4_fingerprint.json")
        hook_headers = {
            "origin": EVIL,
            "content-type": "application/json",
            "authorization": "Bearer am-token",
        }
        hook = client.post("/hooks/alertmanager", content=webhook.body, headers=hook_headers)
        assert hook.status_code == 202


def test_the_configured_external_address_is_an_own_origin(tmp_path: Path) -> None:
    """Behind a proxy, posts from SIGNALBOX_EXTERNAL_URL's origin pass; others still do not."""
    with serve(tmp_path, external_url="https://signalbox.example.com/") as client:
        assert _reload(client, origin="https://signalbox.example.com") == 200
        assert _reload(client, origin="https://signalbox.example.com:443") == 200
        assert _reload(client, origin="http://signalbox.example.com") == 403
        assert _reload(client, origin=EVIL) == 403


def test_api_docs_are_off_unless_asked_for_and_then_need_the_token(tmp_path: Path) -> None:
    """/docs, /redoc and /openapi.json are 404 by default; with SIGNALBOX_API_DOCS they
    want the API token like /api/*, and only they may load from the CDN."""
    docs = ("/docs", "/redoc", "/openapi.json")
    with serve(tmp_path) as client:
        assert [client.get(path).status_code for path in docs] == [404, 404, 404]
    with serve(tmp_path, api_docs=True, api_token="s3cret") as client:
        assert [client.get(path).status_code for path in docs] == [401, 401, 401]
        client.auth = httpx.BasicAuth("ops", "s3cret")
        assert [client.get(path).status_code for path in docs] == [200, 200, 200]
        assert "/api/events" in client.get("/openapi.json").json()["paths"]
        policy = client.get("/docs").headers["content-security-policy"]
        assert "https://cdn.jsdelivr.net" in policy and "frame-ancestors 'none'" in policy
        assert "cdn.jsdelivr.net" not in client.get("/ui").headers["content-security-policy"]


def test_metrics_can_require_the_api_token(tmp_path: Path) -> None:
    """/metrics is open by default even with a token set; SIGNALBOX_METRICS_REQUIRE_TOKEN
    makes it want the token (bearer, as Prometheus sends it, or basic)."""
    with serve(tmp_path, api_token="s3cret") as client:
        assert client.get("/metrics").status_code == 200
    with serve(tmp_path, api_token="s3cret", metrics_require_token=True) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert "signalbox_" not in refused.text
        scraped = client.get("/metrics", headers={"authorization": "Bearer s3cret"})
        assert scraped.status_code == 200
        assert "signalbox_events_received_total" in scraped.text
        assert client.get("/metrics", auth=("prometheus", "s3cret")).status_code == 200
