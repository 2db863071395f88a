"""The sources Signalbox accepts webhooks from, one module each, registered by name."""

from __future__ import annotations

from app.sources import alertmanager, github, gitlab, jenkins
from app.sources.base import SourceModule

SOURCE_MODULES: dict[str, SourceModule] = {
    "github": github.SOURCE,
    "gitlab": gitlab.SOURCE,
    "jenkins": jenkins.SOURCE,
    "alertmanager": alertmanager.SOURCE,
}
