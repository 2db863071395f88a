"""Sources read the JSON text the same as its decoded objects (the webhook path uses the text)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.sources import SOURCE_MODULES
from app.sources.base import Ignored, JsonDocument, Malformed, MalformedJson, decoded
from fixtures import fixture_files, load, mutated

ALL = sorted(name for source in SOURCE_MODULES for name in fixture_files(source))


def _outcome(source: str, headers: dict[str, str], payload: Any) -> object:
    """What parsing gives, comparable across runs: events without id and arrival, or the
    refusal and the field it names (pydantic words JSON errors its own way: "array", not
    "list")."""
    try:
        events = SOURCE_MODULES[source].parse(headers, payload)
    except (Ignored, Malformed) as refusal:
        return type(refusal).__name__, str(refusal).rsplit(": ", 1)[0]
    return [e.model_dump(exclude={"id", "received_at"}) for e in events]


@pytest.mark.parametrize("name", ALL)
def test_fixture_text_parses_as_its_objects(name: str) -> None:
    """Every fixture gives the same events (or refusal) from its text as from json.loads."""
    source = name.split("/", 1)[0]
    delivery = load(name)
    text = JsonDocument(delivery.body.decode("utf-8-sig"))
    from_text = _outcome(source, delivery.headers, text)
    assert from_text == _outcome(source, delivery.headers, delivery.payload)
    assert from_text != [], "a fixture parses to events or is refused"


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), name=st.sampled_from(ALL))
def test_mutated_text_parses_as_its_objects(data: st.DataObject, name: str) -> None:
    """Broken-shape payloads are refused (or parsed) identically from text and from objects."""
    source = name.split("/", 1)[0]
    delivery = load(name)
    doc = data.draw(mutated(delivery.payload))
    text = JsonDocument(json.dumps(doc))
    assert _outcome(source, delivery.headers, text) == _outcome(source, delivery.headers, doc)


@pytest.mark.parametrize("source", sorted(SOURCE_MODULES))
def test_broken_json_is_malformed_json(source: str) -> None:
    """A body that is not JSON raises MalformedJson saying where it broke, from every source."""
    headers = {"x-github-event": "workflow_run", "x-gitlab-event": "Pipeline Hook"}
    with pytest.raises(MalformedJson, match="line 1 column"):
        SOURCE_MODULES[source].parse(headers, JsonDocument('{"a": [1, }'))
    with pytest.raises(MalformedJson, match="line 1 column"):
        decoded(JsonDocument('{"a": [1, }'))
