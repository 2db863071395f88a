"""Process settings: CLI options and SIGNALBOX_* environment variables."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, HttpUrl, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.durations import parse_duration
from app.store import Retention, Store, open_store


def _seconds(value: object) -> object:
    """`7d`, `90m`, `30s` as ops write them; a bare number is seconds."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return parse_duration(value).total_seconds()
    return value


Seconds = Annotated[float, BeforeValidator(_seconds)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNALBOX_", extra="ignore")

    config: Path = Path("routes.yaml")
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    # postgresql://user:password@host:port/dbname: the store replicas share (see
    # docs/operations.md, "Storage"); unset, SQLite in data_dir. Secret: it may hold a
    # password.
    database_url: SecretStr | None = None
    # Webhook bodies above this are refused with 413 while still being read.
    max_body_bytes: int = 1024 * 1024
    # When set, /api/* and the console need it as a bearer token or basic-auth password.
    api_token: SecretStr | None = None
    # Watch routes.yaml and reload on change; tests that drive reloads by hand turn it off.
    watch_config: bool = True
    # On SIGTERM, seconds to keep sending what is queued before stopping; what is left
    # stays in the store and is sent after the next start.
    shutdown_grace: Seconds = 10.0

    # Retention (docs/operations.md): rows older than these are pruned every
    # prune_interval; an event still owed a delivery is kept whatever its age.
    retain_events: Seconds = 7 * 86400.0
    retain_deliveries: Seconds = 7 * 86400.0
    # Senders' delivery ids remembered to refuse redeliveries (GitHub "Redeliver").
    retain_dedup_keys: Seconds = 3 * 86400.0
    retain_pipeline_runs: Seconds = 30 * 86400.0
    # Expired silences stay listed this long (Alertmanager's --data.retention, 120 h).
    retain_silences: Seconds = 5 * 86400.0
    prune_interval: Seconds = 600.0

    # Most distinct values kept per payload-fed metric label (project, route, pipeline).
    metrics_label_limit: int = 500

    # A failed delivery is retried for this long (capped exponential backoff with jitter,
    # at most retry_max_interval apart), then it is dead.
    retry_for: Seconds = 6 * 3600.0
    retry_max_interval: Seconds = 300.0

    # Replicas share the receivers out by leases (app/bus/ownership.py): one lapses this
    # long after its replica stopped renewing it, and is renewed this often.
    lease_ttl: Seconds = 10.0
    lease_renew: Seconds = 2.0
    # This replica's name on its leases. The default, host:port, is what no other live
    # process can have, and what a restarted one has again: it takes its receivers back
    # at once instead of waiting for its old leases to lapse.
    replica_id: str | None = None

    @property
    def replica(self) -> str:
        return self.replica_id or f"{socket.gethostname()}:{self.port}"

    # Seconds a write waits for a lock held by someone else before answering 503.
    db_busy_timeout: float = 5.0

    # Slow or idle clients (app/http_server.py): seconds a connection may wait for a
    # request to begin, a request's headers may take, and its body after them.
    timeout_keep_alive: Seconds = 5.0
    timeout_headers: Seconds = 10.0
    timeout_body: Seconds = 30.0
    # Open live feeds (GET /ui/feed/stream) in all and per client address; more are refused.
    live_max_streams: int = 100
    live_max_streams_per_client: int = 10

    # The address people reach the console at (behind a proxy, its public https:// URL).
    # Console form posts from this origin are accepted besides the Host a request came to.
    external_url: HttpUrl | None = None
    # How long an acknowledgement link in a message stays good.
    ack_link_ttl: Seconds = 7 * 86400.0
    # /metrics wants SIGNALBOX_API_TOKEN too (its series name projects, pipelines, branches).
    metrics_require_token: bool = False
    # FastAPI's /docs, /redoc and /openapi.json, behind the API token. Off: /docs loads
    # Swagger UI from a CDN and needs inline script, which the console's CSP forbids.
    api_docs: bool = False

    @field_validator("database_url")
    @classmethod
    def _postgresql_only(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None or not url.get_secret_value():
            return None
        if not url.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (unset for SQLite in data_dir)")
        return url

    @property
    def db_path(self) -> Path:
        return self.data_dir / "signalbox.db"

    @property
    def store_location(self) -> str:
        """Where the store is, as logs may say it (never with a password)."""
        if self.database_url is None:
            return str(self.db_path)
        from app.store.postgres_link import describe

        return describe(self.database_url.get_secret_value())

    def open_store(self) -> Store:
        """The store these settings name (not started)."""
        url = self.database_url.get_secret_value() if self.database_url else None
        return open_store(url, self.db_path, self.db_busy_timeout)

    @property
    def retention(self) -> Retention:
        return Retention(
            events=self.retain_events,
            deliveries=self.retain_deliveries,
            dedup_keys=self.retain_dedup_keys,
            pipeline_runs=self.retain_pipeline_runs,
            silences=self.retain_silences,
        )
