"""Generic source: routes.yaml mappings checked at load, the Argo CD example of the docs on
real Argo CD deliveries, every mapping rule, and its token and HMAC checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.routing.config import ConfigInvalid
from app.sources.base import Ignored, JsonDocument, Malformed, Unauthorized
from app.sources.generic import MAX_ITEMS, GenericSource
from fixtures import (
    JSON_VALUES,
    Case,
    assert_event,
    fixture_files,
    index,
    load,
    mutated,
    parses_or_refuses,
    payload,
)
from generic_docs import doc_example, generic_config, generic_source

RUNNING = "generic/argocd/notifications.sync_running.json"
SUCCEEDED = "generic/argocd/notifications.sync_succeeded.json"
DEGRADED = "generic/argocd/notifications.synced_degraded.json"

ARGOCD_CASES: dict[str, Case] = {
    RUNNING: Case(
        labels={
            "source": "generic",
            "kind": "deployment",
            "status": "running",
            "project": "default",
            "pipeline": "aaaaaaaaa",
            "generic": "argocd",
            "environment": "argocd",
            "cluster": "https://kubernetes.default.svc",
            "health": "Healthy",
            "sync": "Synced",
            "commit": "744ef414bc4880d1ac71b8296dc01ebc35f4f97c",
        },
        title="default · aaaaaaaaa running",
        url="https://demo.cdviz.dev/applications/argocd/aaaaaaaaa",
        run=(None, None),
        times=("2025-10-02T16:20:55+00:00", None, None),
        fingerprint="bb42b013-3ce1-4207-a409-2898419d8e74:2025-10-02T16:20:55Z",
        annotations={},
    ),
    SUCCEEDED: Case(
        labels={
            "source": "generic",
            "kind": "deployment",
            "status": "success",
            "project": "default",
            "pipeline": "aaaaaaaaa",
            "generic": "argocd",
            "environment": "argocd",
            "cluster": "https://kubernetes.default.svc",
            "health": "Healthy",
            "sync": "Synced",
            "commit": "94fcc5e8673e0d2d7fbca6b1c6c455ba308314fc",
        },
        title="default · aaaaaaaaa succeeded",
        url="https://demo.cdviz.dev/applications/argocd/aaaaaaaaa",
        run=(None, None),
        times=("2025-10-02T16:20:55+00:00", "2025-10-02T16:20:59+00:00", 4.0),
        fingerprint="bb42b013-3ce1-4207-a409-2898419d8e74:2025-10-02T16:20:55Z",
        annotations={"message": "successfully synced (all tasks run)"},
    ),
    DEGRADED: Case(
        labels={
            "source": "generic",
            "kind": "deployment",
            "status": "failure",
            "project": "demo-cluster",
            "pipeline": "aaaaaaa",
            "generic": "argocd",
            "environment": "aaaaaaa",
            "cluster": "https://kubernetes.default.svc",
            "health": "Degraded",
            "sync": "Synced",
        },
        title="demo-cluster · aaaaaaa failed",
        url="https://demo.cdviz.dev/applications/argocd/aaaaaaa",
        run=(None, None),
        times=("2025-10-02T16:21:00+00:00", "2025-10-02T16:21:03+00:00", 3.0),
        fingerprint="648b3973-e90b-4496-84c0-febef8536eec:2025-10-02T16:21:00Z",
        annotations={
            "message": "successfully synced (all tasks run)",
            "revisions": '["6.9.0"]',
        },
    ),
}


def argocd() -> GenericSource:
    return generic_source(generic_config(doc_example("argocd"), ARGOCD_WEBHOOK_TOKEN="t"), "argocd")


def source(mapping: str, name: str = "s", **env: str) -> GenericSource:
    """A generic source `name` with `mapping` (YAML lines under its name, 6 spaces deep)."""
    return generic_source(
        generic_config(f"sources:\n  generic:\n    {name}:\n{mapping}", **env), name
    )


MINIMAL = """\
      kind: "'job'"
      status: { value: "state" }
"""


def test_every_argocd_fixture_has_an_expectation() -> None:
    """Every Argo CD payload file (and index.json entry) is covered by a case here."""
    assert set(ARGOCD_CASES) == fixture_files("generic/argocd")
    assert {name for name in index() if name.startswith("generic/")} == set(ARGOCD_CASES)


@pytest.mark.parametrize("name", sorted(ARGOCD_CASES))
def test_the_docs_argocd_mapping_reads_real_argocd_deliveries(name: str) -> None:
    """The routes.yaml block of the docs' Argo CD example turns each real delivery into
    exactly the expected event: a degraded application after a sync is a failure, and the
    running and finished posts of one sync share a fingerprint."""
    delivery = load(name)
    (event,) = argocd().parse(delivery.headers, JsonDocument(delivery.body.decode()))
    assert_event(event, ARGOCD_CASES[name])


def test_minimal_mapping_defaults() -> None:
    """With only kind and status mapped, project and pipeline are the name, the title says
    the status, there is no url or run, and the fingerprint is stable across posts."""
    (event,) = source(MINIMAL, name="backup").parse({}, {"state": "failure"})
    assert event.labels == {
        "source": "generic",
        "kind": "job",
        "status": "failure",
        "project": "backup",
        "pipeline": "backup",
        "generic": "backup",
    }
    assert event.title == "backup failed"
    assert (event.url, event.run_id, event.run_order) == (None, None, None)
    again = source(MINIMAL, name="backup").parse({}, {"state": "failure"})[0]
    assert event.fingerprint == again.fingerprint
    assert (
        event.fingerprint
        != source(MINIMAL, name="other").parse({}, {"state": "failure"})[0].fingerprint
    )


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({}, "status: state is missing from the body"),
        ({"state": None}, "status: state is missing from the body"),
        ({"state": ""}, "status: state is missing from the body"),
        ({"state": "exploded"}, "status: unknown value 'exploded'; known: queued, running"),
        ({"state": {"a": 1}}, "status: state gave an object, not a string, number or boolean"),
        ({"state": [1]}, "status: state gave a list"),
        ({"state": "success", "k": "nope"}, "kind: 'nope' is not one of pipeline, job"),
        ({"state": "success", "k": None}, "kind: k is missing from the body"),
    ],
)
def test_required_fields_missing_or_wrong_are_malformed_naming_them(
    body: dict[str, Any], said: str
) -> None:
    """A post without its status or kind, or with a value no status or kind matches, is
    Malformed naming the field and the expression."""
    mapping = '      kind: "k || \'job\'"\n      status: { value: "state" }\n'
    if "k" in body and body["k"] is None:
        mapping = '      kind: "k"\n      status: { value: "state" }\n'
    with pytest.raises(Malformed, match=re.escape(said)):
        source(mapping).parse({}, body)


def test_mapped_project_and_pipeline_are_required() -> None:
    """When project or pipeline is mapped, a post without it is Malformed naming it."""
    mapping = MINIMAL + '      labels: { project: "repo.name", pipeline: "wf" }\n'
    with pytest.raises(Malformed, match=r"labels\.project: repo\.name is missing from the body"):
        source(mapping).parse({}, {"state": "success", "wf": "ci"})
    with pytest.raises(Malformed, match=r"labels\.pipeline: wf is missing"):
        source(mapping).parse({}, {"state": "success", "repo": {"name": "r"}})
    (event,) = source(mapping).parse({}, {"state": "success", "repo": {"name": "r"}, "wf": "ci"})
    assert (event.labels["project"], event.labels["pipeline"], event.title) == (
        "r",
        "ci",
        "r · ci succeeded",
    )


def test_status_map_then_own_words_then_default() -> None:
    """The value's word is looked up in the map (numbers and booleans by their JSON word),
    then taken as it is when it is one of Signalbox's statuses, then the default."""
    mapping = """\
      kind: "'pipeline'"
      status:
        value: "rc"
        map: { 0: success, "true": running, broke: failure }
        default: unstable
"""
    statuses = [
        source(mapping).parse({}, {"rc": rc})[0].status
        for rc in (0, 0.0, True, "broke", "cancelled", 3, "whatever")
    ]
    assert statuses == [
        "success",
        "success",
        "running",
        "failure",
        "cancelled",
        "unstable",
        "unstable",
    ]


def test_labels_take_scalars_and_leave_out_empty_ones() -> None:
    """Strings, integers, floats and booleans become label words; null, "" and absent
    fields leave the label out; an object is Malformed naming the label."""
    mapping = MINIMAL + (
        '      labels: { a: "a", b: "b", c: "c", d: "d", e: "e", f: "f", g: "g" }\n'
    )
    body = {"state": "success", "a": "x", "b": 12, "c": 0.5, "d": False, "e": None, "f": ""}
    labels = source(mapping).parse({}, body)[0].labels
    assert {k: labels.get(k) for k in "abcdefg"} == {
        "a": "x",
        "b": "12",
        "c": "0.5",
        "d": "false",
        "e": None,
        "f": None,
        "g": None,
    }
    with pytest.raises(Malformed, match=r"labels\.a: a gave an object"):
        source(mapping).parse({}, {**body, "a": {"x": 1}})


@pytest.mark.parametrize("number", ["1e400", "-1e400", "9" * 5000])
def test_a_label_number_beyond_a_float_is_malformed_naming_it(number: str) -> None:
    """A number no float holds (1e400, 5,000 digits) in a mapped label is Malformed naming
    the label, never an 'inf' label."""
    mapping = MINIMAL + '      labels: { size: "n" }\n'
    text = JsonDocument('{"state": "success", "n": ' + number + "}")
    with pytest.raises(Malformed, match=r"labels\.size: a number beyond what Signalbox keeps"):
        source(mapping).parse({}, text)


def test_run_order_must_fit_64_bits() -> None:
    """run_order past a signed 64-bit integer, or not an integer, is Malformed naming it; the
    largest kept is kept; without run_order a run is ordered by arrival."""
    mapping = MINIMAL.replace("'job'", "'pipeline'") + '      run: "id"\n      run_order: "n"\n'
    for n in (2**63, -(2**63) - 1, "12", 1.5):
        with pytest.raises(Malformed, match="run_order"):
            source(mapping).parse({}, {"state": "success", "id": "r1", "n": n})
    kept = source(mapping).parse({}, {"state": "success", "id": "r1", "n": 2**63 - 1})[0]
    assert (kept.run_id, kept.run_order) == ("r1", 2**63 - 1)
    arrival = source(mapping).parse({}, {"state": "success", "id": "r2"})[0]
    assert arrival.run_order == int(arrival.received_at.timestamp() * 1000)


def test_timestamps_are_iso_or_unix_seconds() -> None:
    """started_at/finished_at read ISO 8601 (with a space before the offset too) or Unix
    seconds, and give the duration; anything else is Malformed naming the field."""
    mapping = MINIMAL + '      started_at: "s"\n      finished_at: "f"\n'
    event = source(mapping).parse(
        {}, {"state": "success", "s": "2025-10-02 16:20:55 +0200", "f": 1759414865.5}
    )[0]
    assert (
        event.started_at is not None and event.started_at.isoformat() == "2025-10-02T16:20:55+02:00"
    )
    assert event.duration_s == 10.5
    for bad in ("yesterday", 1e300, True, [1]):
        with pytest.raises(Malformed, match="finished_at"):
            source(mapping).parse({}, {"state": "success", "f": bad})


def test_only_http_urls_are_kept() -> None:
    """The url is kept when it is an absolute http(s) URL, dropped otherwise."""
    mapping = MINIMAL + '      url: "u"\n'
    urls = [
        source(mapping).parse({}, {"state": "success", "u": u})[0].url
        for u in ("https://ci.example.com/1", "javascript:alert(1)", "/relative", 12)
    ]
    assert urls == ["https://ci.example.com/1", None, None, None]


def test_items_give_one_event_each_seeing_item_and_body() -> None:
    """With `items`, each element is an event whose expressions see `item` and `body`; an
    error names the item; an empty list is Ignored; a non-list or too long list is Malformed."""
    mapping = """\
      items: "alerts"
      kind: "'alert'"
      status: { value: "item.state", map: { alerting: firing, ok: resolved } }
      labels: { project: "body.team", pipeline: "item.name" }
"""
    alerts = [{"name": "Down", "state": "alerting"}, {"name": "Slow", "state": "ok"}]
    body: dict[str, Any] = {"team": "db", "alerts": alerts}
    events = source(mapping).parse({}, body)
    assert [(e.labels["project"], e.labels["pipeline"], e.status) for e in events] == [
        ("db", "Down", "firing"),
        ("db", "Slow", "resolved"),
    ]
    # An alert's fingerprint is the same firing and resolved.
    flipped = {**body, "alerts": [{"name": "Down", "state": "ok"}]}
    assert source(mapping).parse({}, flipped)[0].fingerprint == events[0].fingerprint
    alerts.append({"name": "Odd", "state": "weird"})
    with pytest.raises(Malformed, match=r"^items\[2\]: status: unknown value 'weird'"):
        source(mapping).parse({}, body)
    with pytest.raises(Ignored):
        source(mapping).parse({}, {"alerts": []})
    with pytest.raises(Malformed, match="items: alerts gave an object, not a list"):
        source(mapping).parse({}, {"alerts": {}})
    with pytest.raises(Malformed, match="items: alerts is missing"):
        source(mapping).parse({}, {})
    many = {"team": "db", "alerts": [{"name": "x", "state": "ok"}] * (MAX_ITEMS + 1)}
    with pytest.raises(Malformed, match=f"at most {MAX_ITEMS}"):
        source(mapping).parse({}, many)


def test_a_type_error_in_an_expression_is_malformed_naming_the_field() -> None:
    """A JMESPath function given the wrong type by a body (join over numbers) is Malformed
    naming the field, not a 500."""
    mapping = MINIMAL + "      title: \"join(' ', parts)\"\n"
    with pytest.raises(Malformed, match=r"^title: In function join\(\)"):
        source(mapping).parse({}, {"state": "success", "parts": [1, 2]})
    assert source(mapping).parse({}, {"state": "success", "parts": ["a", "b"]})[0].title == "a b"


def test_annotations_keep_objects_as_json() -> None:
    """Annotations take scalars as words and lists and objects as compact JSON."""
    mapping = MINIMAL + '      annotations: { log: "log", detail: "d", n: "n" }\n'
    event = source(mapping).parse(
        {}, {"state": "success", "log": "ok", "d": {"a": [1, "é"]}, "n": 3}
    )[0]
    assert event.annotations == {"log": "ok", "detail": '{"a":[1,"é"]}', "n": "3"}


def test_deeply_nested_bodies_are_malformed_not_a_crash() -> None:
    """A body nested to the decoder's limit reaches the expressions as data and is refused
    or read, never a RecursionError."""
    mapping = MINIMAL + '      annotations: { all: "@" }\n'
    deep = JsonDocument('{"state": "success", "x": ' + "[" * 900 + "]" * 900 + "}")
    parses_or_refuses(lambda: source(mapping).parse({}, deep))


@pytest.mark.parametrize(
    "expression",
    [
        # Each [@,@][] doubles the list and projects the rest over it: 2^18 elements.
        "[@,@][]" * 18,
        # A value whose tree doubles at each step, then walked whole by to_string().
        "to_string(@" + ".[@,@]" * 40 + ")",
        # The same tree compared with itself.
        "@" + ".[@,@]" * 40 + " == @" + ".[@,@]" * 40,
    ],
    ids=["projection", "to_string", "equals"],
)
def test_a_mapping_that_multiplies_its_work_is_stopped_naming_the_field(expression: str) -> None:
    """A mapping whose work grows exponentially with its length is stopped by the post's
    work budget and refused as Malformed naming the field, instead of holding the event
    loop for seconds (or forever)."""
    mapping = MINIMAL + f"      annotations: {{ blowup: {json.dumps(expression)} }}\n"
    with pytest.raises(Malformed, match=r"^annotations\.blowup: .* steps of work on this body"):
        source(mapping).parse({}, {"state": "success", "a": 1})


def test_the_work_budget_is_shared_by_every_item_of_a_post() -> None:
    """The budget is per post, not per expression: cheap expressions over many items add
    up, so 1,000 items each reading a large body whole are refused, while the same
    mapping over a few items is read."""
    mapping = """\
      items: "body.items"
      kind: "'job'"
      status: { value: "item.state" }
      annotations: { size: "length(to_string(body))" }
"""
    big = {"items": [{"state": "success"}] * 1000, "pad": ["x" * 10] * 2000}
    with pytest.raises(Malformed, match=r"^items\[\d+\]: annotations\.size: .* steps of work"):
        source(mapping).parse({}, {"body": big})
    few = {"items": [{"state": "success"}] * 3, "pad": ["x" * 10] * 2000}
    assert len(source(mapping).parse({}, {"body": few})) == 3


# --- routes.yaml checks ----------------------------------------------------------------


def errors(mapping: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        generic_config(f"sources:\n  generic:\n    s:\n{mapping}")
    return [str(e) for e in caught.value.errors]


@pytest.mark.parametrize(
    ("mapping", "said"),
    [
        (
            '      kind: "\'job\'"\n      status: { value: "a[" }\n',
            "routes.yaml:5: sources.generic.s.status.value: invalid JMESPath expression: "
            "Incomplete expression",
        ),
        (
            MINIMAL + '      title: "lenght(a)"\n',
            "routes.yaml:6: sources.generic.s.title: unknown JMESPath function lenght()",
        ),
        (
            MINIMAL + '      title: "join(a)"\n',
            "routes.yaml:6: sources.generic.s.title: join() takes 2 arguments, given 1",
        ),
        (
            MINIMAL + '      labels: { status: "x" }\n',
            "routes.yaml:6: sources.generic.s.labels.status: label 'status' is set by Signalbox",
        ),
        (MINIMAL + '      labels: { generic: "x" }\n', "label 'generic' is set by Signalbox"),
        (MINIMAL + '      labels: { "a-b": "x" }\n', "label name 'a-b' is not letters"),
        (
            MINIMAL + '      url: ""\n',
            "routes.yaml:6: sources.generic.s.url: expected a JMESPath expression",
        ),
        (MINIMAL + "      url: 12\n", "sources.generic.s.url: expected a JMESPath expression"),
        (MINIMAL + f'      url: "{"a." * 600}a"\n', "longer than 1000 characters"),
        (
            '      kind: "\'job\'"\n      status: { value: "s", map: { ok: fine } }\n',
            "routes.yaml:5: sources.generic.s.status.map.ok: Input should be 'queued'",
        ),
        (
            MINIMAL + "      hmac: { secret: x, header: 'X Sig' }\n",
            "routes.yaml:6: sources.generic.s.hmac.header: 'X Sig' is not an HTTP header name",
        ),
        (
            MINIMAL + "      hmac: { secret: x, header: X-Sig, algorithm: md5 }\n",
            "hmac.algorithm: Input should be 'sha256' or 'sha512'",
        ),
        (
            MINIMAL + "      colour: red\n",
            'routes.yaml:6: unknown key "colour" in sources.generic.s',
        ),
        ("      kind: \"'job'\"\n", 'missing key "status" in sources.generic.s'),
    ],
)
def test_mapping_errors_name_the_field_and_its_line(mapping: str, said: str) -> None:
    """Every mistake in a mapping is found at load, with file:line and the field."""
    found = "\n".join(errors(mapping))
    assert said in found, found


def test_a_name_that_is_no_url_segment_is_refused_at_its_line() -> None:
    """Generic names are URL segments: letters, digits, . _ - (1-63), or an error at load."""
    with pytest.raises(ConfigInvalid) as caught:
        generic_config(f"sources:\n  generic:\n    'a/b':\n{MINIMAL}")
    assert "routes.yaml:3: sources.generic.a/b: generic source name 'a/b'" in str(caught.value)


def test_public_errors_quote_nothing_from_the_file() -> None:
    """The public form of a mapping error (API, console) names the field path and the kind
    of problem, not the expression or the name."""
    with pytest.raises(ConfigInvalid) as caught:
        generic_config(
            f'sources:\n  generic:\n    secretname:\n{MINIMAL}      title: "lenght(secretexpr)"\n'
        )
    public = caught.value.public()
    assert public == "routes.yaml:6: sources.generic.*.title: unknown JMESPath function"


# --- authentication ---------------------------------------------------------------------

HMAC_MAPPING = (
    MINIMAL + "      hmac: { secret: \"${SECRET}\", header: X-Signature-256, prefix: 'sha256=' }\n"
)


def _signed(secret: bytes, body: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret, body, algorithm).digest()


def test_hmac_signature_over_the_raw_body() -> None:
    """`prefix` + hex HMAC-SHA256 of the exact body passes (hex in either case); a wrong,
    missing or other-body signature is refused; an empty secret checks nothing."""
    src = source(HMAC_MAPPING, SECRET="s3cret")
    body = b'{"state": "success"}'
    good = "sha256=" + _signed(b"s3cret", body).hex()
    src.verify({"x-signature-256": good}, body, src.config)
    src.verify(
        {"x-signature-256": "sha256=" + _signed(b"s3cret", body).hex().upper()}, body, src.config
    )
    for headers in (
        {},
        {"x-signature-256": good.removeprefix("sha256=")},
        {"x-signature-256": "sha256=" + _signed(b"other", body).hex()},
    ):
        with pytest.raises(Unauthorized):
            src.verify(headers, body, src.config)
    with pytest.raises(Unauthorized):
        src.verify({"x-signature-256": good}, body + b" ", src.config)
    open_source = source(HMAC_MAPPING, SECRET="")
    assert not open_source.config.configured()
    open_source.verify({}, body, open_source.config)


def test_hmac_sha512_base64() -> None:
    """algorithm sha512 with base64 encoding and no prefix."""
    mapping = (
        MINIMAL + "      hmac: { secret: k, header: X-Sig, algorithm: sha512, encoding: base64 }\n"
    )
    src = source(mapping)
    body = b"{}"
    signature = base64.b64encode(_signed(b"k", body, "sha512")).decode()
    src.verify({"x-sig": signature}, body, src.config)
    with pytest.raises(Unauthorized):
        src.verify(
            {"x-sig": base64.b64encode(hashlib.sha512(body).digest()).decode()}, body, src.config
        )


def test_token_as_bearer_or_basic_and_both_checks_together() -> None:
    """A token is taken as Bearer or as Basic password; with a token and an hmac both must
    pass."""
    src = source(MINIMAL + "      token: tk\n")
    src.verify({"authorization": "Bearer tk"}, b"{}", src.config)
    src.verify(
        {"authorization": "Basic " + base64.b64encode(b"any:tk").decode()}, b"{}", src.config
    )
    with pytest.raises(Unauthorized):
        src.verify({"authorization": "Bearer nope"}, b"{}", src.config)
    both = source(HMAC_MAPPING + "      token: tk\n", SECRET="k")
    signature = {"x-signature-256": "sha256=" + _signed(b"k", b"{}").hex()}
    both.verify({"authorization": "Bearer tk", **signature}, b"{}", both.config)
    with pytest.raises(Unauthorized):
        both.verify(signature, b"{}", both.config)
    with pytest.raises(Unauthorized):
        both.verify({"authorization": "Bearer tk"}, b"{}", both.config)


def test_delivery_id_is_the_idempotency_key() -> None:
    """A sender's Idempotency-Key is the delivery id (so its retries are recognised)."""
    src = source(MINIMAL)
    assert src.delivery_id({"idempotency-key": "abc"}) == "abc"
    assert src.delivery_id({}) is None


# --- fuzzing ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(ARGOCD_CASES)))
def test_mutated_argocd_deliveries_give_events_or_a_refusal(data: st.DataObject, name: str) -> None:
    """Real Argo CD bodies with parts dropped or replaced by any JSON give events, Ignored
    or Malformed, never another exception."""
    doc = data.draw(mutated(payload(name)))
    parses_or_refuses(lambda: argocd().parse({}, JsonDocument(json.dumps(doc))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=JSON_VALUES)
def test_any_json_gives_events_or_a_refusal(body: Any) -> None:
    """Any JSON value at all, through a mapping using items, every field and functions,
    gives events, Ignored or Malformed."""
    mapping = """\
      items: "to_array(@)"
      kind: "item.k || 'job'"
      status: { value: "item.s", map: { "1": success }, default: failure }
      labels: { project: "to_string(item.p)", pipeline: "keys(item)[0] || 'x'", n: "item.n" }
      title: "join(' ', item.t)"
      url: "item.u"
      fingerprint: "item.f"
      started_at: "item.a"
      finished_at: "item.b"
      run: "item.r"
      run_order: "item.o"
      annotations: { all: "item" }
"""
    parses_or_refuses(lambda: source(mapping).parse({}, JsonDocument(json.dumps(body))))
