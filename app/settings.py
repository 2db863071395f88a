"""Process settings: CLI options and SIGNALBOX_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNALBOX_", extra="ignore")

    config: Path = Path("routes.yaml")
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    # Webhook bodies above this are refused with 413 while still being read.
    max_body_bytes: int = 1024 * 1024
    # When set, /api/* and the console need it as a bearer token or basic-auth password.
    api_token: SecretStr | None = None
    # Watch routes.yaml and reload on change; tests that drive reloads by hand turn it off.
    watch_config: bool = True
    # On SIGTERM, seconds to keep sending what is queued before stopping; what is left
    # stays in the store and is sent after the next start.
    shutdown_grace: float = 10.0

    # Seconds a write waits for a lock held by someone else before answering 503.
    db_busy_timeout: float = 5.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "signalbox.db"
