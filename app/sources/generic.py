"""Any JSON sender: POST /hooks/generic/<name>, mapped to events by its routes.yaml settings.

Each configured name is its own source module, built from one version of routes.yaml
(app/sources/generic_config.py), so a reload changes a name's mapping for the next post.
Every event carries `source="generic"` and `generic="<name>"`: the source label (and every
metric labelled by source) stays one of a fixed few, while routes can still tell the
senders apart.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jmespath.exceptions import JMESPathError
from pydantic import TypeAdapter, ValidationError

from app.events import KINDS, STATUSES, Event, Kind, Labels, Source, Status, base_labels
from app.sources.alerting import label_fingerprint
from app.sources.base import (
    INT64_MAX,
    INT64_MIN,
    STATUS_WORDS,
    Ignored,
    Malformed,
    SourceAuth,
    Timestamp,
    Unauthorized,
    constant_time_equal,
    decoded,
    http_url,
    require_authorization,
    span_seconds,
)
from app.sources.generic_config import Expression, GenericSourceConfig, HmacAuth, word
from app.sources.jmes import Budget, OverBudget

GENERIC: Source = "generic"
# One post is one delivery: a list longer than this is a mistake in the mapping or the
# sender, and would otherwise turn a 1 MiB body into tens of thousands of events.
MAX_ITEMS = 1000
_TIMESTAMP: TypeAdapter[Any] = TypeAdapter(Timestamp)


class GenericSource:
    """The source module of one configured name (see the module doc)."""

    name: Source = GENERIC

    def __init__(self, generic_name: str, config: GenericSourceConfig) -> None:
        self.generic_name = generic_name
        self.config = config

    def verify(self, headers: Mapping[str, str], body: bytes, auth: SourceAuth) -> None:
        """The name's token (Bearer, or Basic password), then its HMAC signature, when set.

        The name's own settings are checked; `auth` is the same `sources:` entry.
        """
        require_authorization(headers, self.config)
        hmac_auth = self.config.hmac
        if hmac_auth is not None and hmac_auth.configured():
            _require_signature(headers, body, hmac_auth)

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        """`Idempotency-Key`, the header retrying senders send to say "same delivery"
        (https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/)."""
        return headers.get("idempotency-key") or None

    def parse(self, headers: Mapping[str, str], payload: Any) -> list[Event]:
        document = decoded(payload)
        budget = Budget()
        items = self.config.items
        if items is None:
            return [_Reader(self, budget, document, "").event()]
        found = _search(items, document, "items", budget)
        if found is None:
            raise Malformed(f"items: {items.text} is missing from the body")
        if not isinstance(found, list):
            raise Malformed(f"items: {items.text} gave {_json_type(found)}, not a list")
        if not found:
            raise Ignored(f"items: {items.text} is an empty list")
        if len(found) > MAX_ITEMS:
            raise Malformed(f"items: {len(found)} items, at most {MAX_ITEMS} in one post")
        return [
            _Reader(self, budget, {"item": item, "body": document}, f"items[{index}]: ").event()
            for index, item in enumerate(found)
        ]


class _Reader:
    """Builds one event from one scope: the body, or {item, body} with `items`."""

    def __init__(self, source: GenericSource, budget: Budget, scope: Any, where: str) -> None:
        self.config = source.config
        self.budget = budget
        self.name = source.generic_name
        self.scope = scope
        self.where = where

    def event(self) -> Event:
        config = self.config
        kind = self._kind()
        status = self._status()
        mapped = {name: self._word(expr, f"labels.{name}") for name, expr in config.labels.items()}
        for required in ("project", "pipeline"):
            if required in config.labels and mapped[required] is None:
                raise self._missing(f"labels.{required}", config.labels[required])
        project = mapped.pop("project", None) or self.name
        pipeline = mapped.pop("pipeline", None) or project
        labels = base_labels(
            source=GENERIC,
            kind=kind,
            status=status,
            project=project,
            pipeline=pipeline,
            generic=self.name,
            **mapped,
        )
        started = self._time(config.started_at, "started_at")
        finished = self._time(config.finished_at, "finished_at")
        run = self._word(config.run, "run")
        event = Event(
            fingerprint=self._word(config.fingerprint, "fingerprint") or _fingerprint(labels, run),
            title=self._word(config.title, "title") or _title(labels),
            url=http_url(self._word(config.url, "url")),
            labels=labels,
            annotations=self._annotations(),
            started_at=started,
            finished_at=finished,
            duration_s=span_seconds(started, finished),
            run_id=run,
        )
        if run is not None:
            order = self._run_order()
            # Without an order from the sender, runs are ordered as they arrive.
            event.run_order = (
                order if order is not None else int(event.received_at.timestamp() * 1000)
            )
        return event

    def _kind(self) -> Kind:
        value = self._word(self.config.kind, "kind")
        if value is None:
            raise self._missing("kind", self.config.kind)
        for kind in KINDS:
            if value == kind:
                return kind
        raise Malformed(f"{self.where}kind: {value[:60]!r} is not one of {', '.join(KINDS)}")

    def _status(self) -> Status:
        rule = self.config.status
        value = self._word(rule.value, "status")
        if value is None:
            raise self._missing("status", rule.value)
        mapped = rule.map.get(value)
        if mapped is not None:
            return mapped
        for status in STATUSES:
            if value == status:
                return status
        if rule.default is not None:
            return rule.default
        known = ", ".join([*rule.map, *STATUSES])
        raise Malformed(f"{self.where}status: unknown value {value[:60]!r}; known: {known}")

    def _word(self, expr: Expression | None, field: str) -> str | None:
        """The expression's value as a label value; None when absent, null or ""."""
        if expr is None:
            return None
        value = self._search(expr, f"{self.where}{field}")
        if value is None or value == "":
            return None
        if isinstance(value, float) and not math.isfinite(value):
            raise Malformed(f"{self.where}{field}: a number beyond what Signalbox keeps")
        if isinstance(value, bool | int | float | str):
            return word(value)
        raise Malformed(
            f"{self.where}{field}: {expr.text} gave {_json_type(value)}, "
            "not a string, number or boolean"
        )

    def _time(self, expr: Expression | None, field: str) -> datetime | None:
        """An ISO 8601 timestamp, or a number of seconds since 1970 (Unix time)."""
        if expr is None:
            return None
        value = self._search(expr, f"{self.where}{field}")
        if value is None or value == "":
            return None
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return datetime.fromtimestamp(value, UTC)
            parsed: datetime | None = _TIMESTAMP.validate_python(value)
            return parsed
        except (ValidationError, ValueError, OverflowError, OSError):
            raise Malformed(
                f"{self.where}{field}: {expr.text} is not an ISO 8601 timestamp or Unix time"
            ) from None

    def _run_order(self) -> int | None:
        expr = self.config.run_order
        if expr is None:
            return None
        value = self._search(expr, f"{self.where}run_order")
        if value is None:
            return None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise Malformed(f"{self.where}run_order: {expr.text} is not an integer")
        if not INT64_MIN <= value <= INT64_MAX:
            raise Malformed(
                f"{self.where}run_order: beyond the signed 64-bit range Signalbox keeps"
            )
        return value

    def _annotations(self) -> dict[str, str]:
        found = {}
        for name, expr in self.config.annotations.items():
            value = self._search(expr, f"{self.where}annotations.{name}")
            if value is None or value == "":
                continue
            if isinstance(value, dict | list):
                found[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            elif isinstance(value, float) and not math.isfinite(value):
                raise Malformed(
                    f"{self.where}annotations.{name}: a number beyond what Signalbox keeps"
                )
            else:
                found[name] = word(value)
        return found

    def _search(self, expr: Expression, where: str) -> Any:
        return _search(expr, self.scope, where, self.budget)

    def _missing(self, field: str, expr: Expression) -> Malformed:
        return Malformed(f"{self.where}{field}: {expr.text} is missing from the body")


def _search(expr: Expression, scope: Any, where: str, budget: Budget) -> Any:
    try:
        return expr.search(scope, budget)
    except OverBudget as exc:
        raise Malformed(f"{where}: {expr.text[:200]} {exc} on this body") from None
    except JMESPathError as exc:
        raise Malformed(f"{where}: {' '.join(str(exc).split())[:200]}") from None
    except RecursionError:
        raise Malformed(f"{where}: the body is nested too deeply") from None


def _json_type(value: Any) -> str:
    return "an object" if isinstance(value, dict) else "a list"


def _title(labels: Labels) -> str:
    project, pipeline = labels["project"], labels["pipeline"]
    title = project if pipeline == project else f"{project} · {pipeline}"
    title += f" {STATUS_WORDS[labels['status']]}"
    if branch := labels.get("branch"):
        title += f" on {branch}"
    return title


def _fingerprint(labels: Labels, run: str | None) -> str:
    """What the event reports, the same on every delivery of it: a hash of its labels but
    the status; for anything but an alert, also its run and status (as CI sources do)."""
    identity = label_fingerprint({k: v for k, v in labels.items() if k != "status"})
    if labels["kind"] == "alert":
        return identity
    return ":".join(part for part in (identity, run, labels["status"]) if part)


def _require_signature(headers: Mapping[str, str], body: bytes, auth: HmacAuth) -> None:
    given = headers.get(auth.header.lower())
    if given is None:
        raise Unauthorized(f"missing {auth.header}")
    mac = hmac.new(auth.secret.get_secret_value().encode(), body, auth.algorithm).digest()
    if auth.encoding == "hex":
        expected = auth.prefix + mac.hex()
        given = given.strip()
        given = given[: len(auth.prefix)] + given[len(auth.prefix) :].lower()
    else:
        expected = auth.prefix + base64.b64encode(mac).decode()
        given = given.strip()
    if not constant_time_equal(given, expected):
        raise Unauthorized(f"wrong signature in {auth.header}")
