"""The console's routes, one module per page, gathered for create_app to include."""

from __future__ import annotations

from fastapi import APIRouter

from app.ui import acks, config_page, deliveries, feed, pipelines, silences
from app.ui.templating import STATIC_DIR

router = APIRouter(include_in_schema=False)
for module in (feed, pipelines, deliveries, silences, config_page):
    router.include_router(module.router)
# The acknowledgement link's page needs no login: its token is the credential.
router.include_router(acks.links)
router.include_router(acks.router)

__all__ = ["STATIC_DIR", "router"]
