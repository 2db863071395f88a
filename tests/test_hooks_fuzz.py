"""Random and mutated bodies at every webhook endpoint: only 2xx and 4xx ever come back."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures import JSON_VALUES, dumps, fixture_files, load, mutated, numbers_mutated
from service import serve

SECRET = "fuzz-secret"
ROUTES = f"""\
sources:
  github: {{ secret: "{SECRET}" }}
channels:
  stdout: {{ type: log }}
routes:
  - matchers: ['status="failure"']
    to: [stdout]
"""
SOURCES = ("github", "gitlab", "jenkins", "alertmanager", "grafana")
FIXTURES = sorted(n for s in SOURCES for n in fixture_files(s))
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with serve(tmp_path_factory.mktemp("fuzz"), ROUTES) as c:
        yield c


def send(client: httpx.Client, source: str, body: bytes, headers: dict[str, str]) -> None:
    if source == "github":
        mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {**headers, "x-hub-signature-256": f"sha256={mac}"}
    response = client.post(f"/hooks/{source}", content=body, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text, body[:200])
    answer = response.json()
    assert isinstance(answer, dict)
    if response.status_code >= 400:
        assert answer["error"] and answer["detail"], answer


@FUZZ
@given(data=st.data())
def test_mutated_fixtures_never_get_5xx(client: httpx.Client, data: st.DataObject) -> None:
    """A real payload with parts dropped or replaced by any JSON gets 2xx or 4xx."""
    name = data.draw(st.sampled_from(FIXTURES))
    fixture = load(name)
    doc = data.draw(mutated(fixture.payload))
    headers = {"content-type": "application/json", **fixture.headers}
    headers.pop("x-hub-signature-256", None)
    headers.pop("content-length", None)
    send(client, name.split("/", 1)[0], json.dumps(doc).encode(), headers)


@FUZZ
@given(data=st.data())
def test_numbers_beyond_keeping_never_get_5xx(client: httpx.Client, data: st.DataObject) -> None:
    """A real payload whose numbers are 2^63, 2^64, -2^63-1, 5,000 digits or 1e400 (or their
    edges) gets 2xx or 4xx over HTTP, and what is accepted can be listed back."""
    name = data.draw(st.sampled_from(FIXTURES))
    fixture = load(name)
    body = dumps(data.draw(numbers_mutated(fixture.payload)))
    headers = {"content-type": "application/json", **fixture.headers}
    headers.pop("x-hub-signature-256", None)
    headers.pop("content-length", None)
    send(client, name.split("/", 1)[0], body, headers)
    assert client.get("/api/events", params={"limit": 5}).status_code == 200


@FUZZ
@given(
    source=st.sampled_from(SOURCES),
    body=st.one_of(st.binary(max_size=300), JSON_VALUES.map(lambda v: json.dumps(v).encode())),
    event=st.sampled_from(
        ["workflow_run", "check_run", "ping", "Pipeline Hook", "Job Hook", "Deployment Hook", ""]
    ),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
)
def test_random_bodies_never_get_5xx(
    client: httpx.Client, source: str, body: bytes, event: str, content_type: str
) -> None:
    """Arbitrary bytes or JSON, any event header and content type: never a 5xx."""
    headers = {"x-github-event": event, "x-gitlab-event": event, "content-type": content_type}
    send(client, source, body, headers)
