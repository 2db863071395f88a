"""create_app(settings): wires store, routing config, bus and routers; builds nothing at import."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from app.api import acks, admin, amsilences, deliveries, docs, events, hooks, silences, slack
from app.bus.ownership import Ownership
from app.bus.plan import resumer, route_mentions, route_templates
from app.bus.retry import RetryPolicy
from app.bus.worker import Bus
from app.config_state import unauthenticated_sources
from app.context import AppContext
from app.live import Broadcaster
from app.logs import log
from app.observe import set_label_limit
from app.oncall.tokens import load_links
from app.pollers.scheduler import Scheduler
from app.retention import prune_forever
from app.routing.config import RoutingConfig
from app.routing.reload import ConfigHolder, ReloadResult
from app.settings import Settings
from app.store import StoreUnavailable
from app.ui import routes as ui
from app.ui.feed import feed_row
from app.web.errors import ApiError
from app.web.headers import SecurityHeaders
from app.web.origin import CrossSiteGuard, origin_of


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder = ConfigHolder(settings.config)
        set_label_limit(settings.metrics_label_limit)
        store = settings.open_store()
        await store.start()
        policy = RetryPolicy(max_age=settings.retry_for, max_interval=settings.retry_max_interval)
        bus = Bus(store, policy)
        external = str(settings.external_url) if settings.external_url else None
        bus.links = await load_links(store, external, settings.ack_link_ttl)
        live = Broadcaster(settings.live_max_streams, settings.live_max_streams_per_client)
        ctx = AppContext(settings=settings, store=store, config=holder, bus=bus, live=live)
        app.state.ctx = ctx
        config = ctx.config_in_force()
        _push_to_bus(holder, bus)
        _warn_about_open_doors(config)
        store.on_wake(bus.woken)
        ownership = Ownership(
            store,
            bus,
            bus.receivers,
            settings.lease_ttl,
            settings.lease_renew,
            owner=settings.replica,
        )
        # The first round takes this replica's receivers over: what a previous process
        # left open is resumed before a single webhook is served.
        resumed = await ownership.round()
        async with contextlib.AsyncExitStack() as stack:
            renewals = asyncio.create_task(ownership.run())
            stack.push_async_callback(_cancelled, renewals)
            pruner = asyncio.create_task(
                prune_forever(store, settings.retention, settings.prune_interval)
            )
            stack.push_async_callback(_cancelled, pruner)
            broadcaster = asyncio.create_task(live.run(feed_row))
            stack.push_async_callback(_cancelled, broadcaster)
            # CI APIs polled (routes.yaml sources.<ci>.poll), each target by one replica.
            pollers = Scheduler(store, ctx.intake, ctx.config_in_force, ownership.owner)
            stack.push_async_callback(pollers.close)
            stack.push_async_callback(_cancelled, asyncio.create_task(pollers.run()))
            if settings.watch_config:
                watcher = asyncio.create_task(holder.watch())
                stack.callback(watcher.cancel)
            _reload_on_sighup(holder, stack)
            log(
                logging.INFO,
                "signalbox started",
                config=str(settings.config),
                config_hash=config.hash,
                db=settings.store_location,
                resumed=resumed,
            )
            yield
        await bus.close(settings.shutdown_grace)
        # Handed back at once: another replica takes the receivers over without waiting
        # for the leases to lapse.
        with contextlib.suppress(StoreUnavailable):
            await ownership.release()
        await store.close()
        # What the grace period did not send stays in the store for the next start.
        log(logging.INFO, "signalbox stopped", left_for_next_start=bus.queue_depth())
        # uvicorn re-raises SIGTERM after shutdown, so atexit hooks may never run.
        for handler in logging.getLogger().handlers:
            handler.flush()

    # FastAPI's OpenTelemetry hooks look their providers up on every request; Signalbox
    # reports through /metrics and its JSON log, so they would only cost time.
    # FastAPI's own docs routes are open to anyone and pull Swagger UI from a CDN: off, and
    # served by app/api/docs.py behind the token when SIGNALBOX_API_DOCS asks for them.
    app = FastAPI(
        title="Signalbox",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    for module in (events, deliveries, silences, amsilences, acks, slack, admin):
        app.include_router(module.router)
    if settings.api_docs:
        app.include_router(docs.router)
    app.include_router(ui.router)
    # htmx, its SSE extension and the stylesheet: public files, vendored so the console
    # works without reaching any CDN.
    app.mount("/ui/static", StaticFiles(directory=ui.STATIC_DIR), name="ui-static")
    # Outermost last: webhooks take the fast path past both browser protections.
    external = settings.external_url
    app.add_middleware(
        CrossSiteGuard, external_origin=origin_of(str(external)) if external else None
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(hooks.HookFastPath)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    return app


def freeze_startup_heap() -> None:
    """Take what startup built out of the cyclic collector's sight, before serving.

    Modules, classes, models and schemas live as long as the process, yet every full
    collection walked them all: 50 ms pauses that every webhook in flight waited out,
    8 ms once frozen (a GC callback timing collections under bench/hotpath.py --deliver).
    Cost: a startup object that later becomes cyclic garbage is never freed.
    """
    gc.collect()
    gc.freeze()


async def _cancelled(task: asyncio.Task[None]) -> None:
    # Awaited so a prune in progress ends before the store closes under it.
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A read the database could not answer (PostgreSQL down or silent, a stalled disk):
    # the API and console say so, for a retry, instead of a 500. The log has the cause.
    return ApiError(503, "store unavailable", "the database did not answer; retry").response()


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    where = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )
    return JSONResponse({"error": "invalid request", "detail": where}, status_code=400)


def _push_to_bus(holder: ConfigHolder, bus: Bus) -> None:
    """Hand the bus the config in force now and every one loaded later (from any thread),
    so waiting and retrying deliveries follow a reload without any other traffic."""
    loop = asyncio.get_running_loop()

    def apply(config: RoutingConfig) -> None:
        bus.configure(
            config.channels, route_templates(config), resumer(config), route_mentions(config)
        )

    def pushed(config: RoutingConfig) -> None:
        loop.call_soon_threadsafe(apply, config)

    apply(holder.current)
    holder.on_change(pushed)


def _reload_on_sighup(holder: ConfigHolder, stack: contextlib.AsyncExitStack) -> None:
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Future[ReloadResult]] = set()

    def reload() -> None:
        # In a thread, as the watcher and POST /-/reload do: a load renders every template
        # on the sample events, which must not hold the loop.
        future = asyncio.ensure_future(asyncio.to_thread(holder.reload))
        reloads.add(future)
        future.add_done_callback(reloads.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, reload)
    except (ValueError, RuntimeError, NotImplementedError):
        return  # not the main thread (tests serving in a thread): no signals to catch
    stack.callback(loop.remove_signal_handler, signal.SIGHUP)


def _warn_about_open_doors(config: RoutingConfig) -> None:
    for source in unauthenticated_sources(config):
        log(
            logging.WARNING,
            "source accepts unauthenticated posts",
            source=source,
            hint=f"set a secret or token for {source} under sources: in routes.yaml",
        )
