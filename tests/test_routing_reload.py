"""ConfigHolder: atomic swaps, rejected edits, metrics, file watching and a reload storm."""

# The watch tests edit real files from the event loop on purpose: that is what they test.
# ruff: noqa: ASYNC240

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from app.routing.config import ConfigInvalid
from app.routing.reload import ConfigHolder


def version(n: int) -> str:
    """A valid config whose two routes both name receivers tagged with version `n`."""
    return f"""channels:
  v{n}-a: {{ type: log }}
  v{n}-b: {{ type: log }}
routes:
  - {{ matchers: ['kind="pipeline"'], to: [v{n}-a], continue: true }}
  - {{ matchers: ['status="failure"'], to: [v{n}-b] }}
"""


INVALID = """channels:
  log: { type: log }
routes:
  - { to: [ops-slack] }
"""


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(version(1))
    return path


def receivers(holder: ConfigHolder) -> list[str]:
    return holder.current.decide({"kind": "pipeline", "status": "failure"}).receivers


def test_invalid_edit_keeps_old_config_and_reports(config_file: Path) -> None:
    """A bad edit is rejected with file:line and the kind of problem (the public form, which
    names no channel), the old config stays, metrics say so."""
    holder = ConfigHolder(config_file)
    old = holder.current
    assert gauge("signalbox_config_last_reload_successful") == 1
    config_file.write_text(INVALID)
    result = holder.reload()
    assert not result.ok and not result.changed
    assert holder.current is old
    assert holder.last_error == f"{config_file}:4: undefined channel in route 0"
    assert result.error == holder.last_error
    assert gauge("signalbox_config_last_reload_successful") == 0
    assert holder.status()["last_error"] == holder.last_error


def test_valid_edit_swaps_and_records_success(config_file: Path) -> None:
    """A valid edit replaces the config, clears the error and stamps the success time."""
    holder = ConfigHolder(config_file)
    config_file.write_text(INVALID)
    holder.reload()
    before = time.time()
    config_file.write_text(version(2))
    result = holder.reload()
    assert result.ok and result.changed
    assert receivers(holder) == ["v2-a", "v2-b"]
    assert holder.last_error is None
    assert holder.current.hash == result.hash and len(result.hash) == 12
    stamp = gauge("signalbox_config_last_reload_success_timestamp_seconds")
    assert stamp is not None and stamp >= before - 1
    assert gauge("signalbox_config_last_reload_successful") == 1
    assert not holder.reload().changed  # same bytes: same version kept


def test_invalid_first_load_raises(tmp_path: Path) -> None:
    """Without a config to keep, an invalid file at startup is an error."""
    path = tmp_path / "routes.yaml"
    path.write_text(INVALID)
    with pytest.raises(ConfigInvalid, match="undefined channel"):
        ConfigHolder(path)


@pytest.fixture
async def watching(config_file: Path) -> AsyncIterator[ConfigHolder]:
    holder = ConfigHolder(config_file)
    stop = asyncio.Event()
    task = asyncio.create_task(holder.watch(stop))
    await asyncio.sleep(0.3)  # let the watcher start before the test edits the file
    yield holder
    stop.set()
    await asyncio.wait_for(task, timeout=5)


async def wait_for(condition: Callable[[], bool], limit: float = 3.0) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < limit, "reload not seen in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_watch_reloads_on_in_place_write(watching: ConfigHolder, config_file: Path) -> None:
    """Writing the file in place is picked up within a second."""
    config_file.write_text(version(2))
    elapsed = await wait_for(lambda: receivers(watching) == ["v2-a", "v2-b"])
    assert elapsed < 1.0


async def test_watch_follows_rename_saves(watching: ConfigHolder, config_file: Path) -> None:
    """A save by writing a temp file and os.replace (vim, sed -i) is picked up, repeatedly."""
    for n in (2, 3):
        temp = config_file.with_name(f".routes.yaml.{n}.tmp")
        temp.write_text(version(n))
        os.replace(temp, config_file)
        expected = [f"v{n}-a", f"v{n}-b"]
        elapsed = await wait_for(lambda: receivers(watching) == expected)  # noqa: B023
        assert elapsed < 1.0


async def test_watch_survives_delete_then_recreate(
    watching: ConfigHolder, config_file: Path
) -> None:
    """Deleting the file keeps the config in force; recreating it loads the new one."""
    old = watching.current
    config_file.unlink()
    await wait_for(lambda: watching.last_error is not None)
    assert watching.current is old
    assert "cannot read" in (watching.last_error or "")
    config_file.write_text(version(4))
    await wait_for(lambda: receivers(watching) == ["v4-a", "v4-b"])
    assert watching.last_error is None


async def test_watch_ignores_other_files(watching: ConfigHolder, config_file: Path) -> None:
    """Changes to other files in the directory do not trigger reloads."""
    success = watching.last_success_at
    (config_file.parent / "other.txt").write_text("x")
    await asyncio.sleep(0.6)
    assert watching.last_success_at == success


def test_reload_storm_routes_every_event_with_one_version(config_file: Path) -> None:
    """100 reloads alternating valid/invalid while events are routed: each decision is from
    one complete version, and nothing raises."""
    holder = ConfigHolder(config_file)
    stop = threading.Event()
    decisions: list[list[str]] = []
    failures: list[BaseException] = []

    def route_continuously() -> None:
        try:
            while not stop.is_set():
                decisions.append(receivers(holder))  # one `current` read per event
                time.sleep(0)  # yield the GIL so reloads are not starved
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    router = threading.Thread(target=route_continuously)
    router.start()
    try:
        for n in range(100):
            config_file.write_text(version(n) if n % 2 == 0 else INVALID)
            result = holder.reload()
            assert result.ok == (n % 2 == 0)
            time.sleep(0.001)
    finally:
        stop.set()
        router.join()
    assert not failures
    assert len(decisions) > 100
    seen = set()
    for decision in decisions:
        a, b = decision
        assert a.removesuffix("-a") == b.removesuffix("-b")  # both receivers, one version
        seen.add(a)
    assert len(seen) > 10
    assert receivers(holder) == ["v98-a", "v98-b"]


# Edits that made loading raise something other than a config error, killing the watcher
# task: a template nested past Python's recursion limit, a value YAML cannot construct,
# and a template whose rendering asks for a petabyte.
RAISING_EDITS = {
    "RecursionError": version(9).replace(
        "continue: true }",
        "continue: true, template: '{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}' }",
    ),
    "ValueError": version(9) + "defaults: { group_wait: !!int 0x }\n",
    "MemoryError": version(9).replace(
        "continue: true }", "continue: true, template: '{{ \"x\" * 10**15 }}' }"
    ),
}


@pytest.mark.parametrize("kind", list(RAISING_EDITS))
async def test_watch_survives_an_edit_that_makes_loading_raise(
    watching: ConfigHolder, config_file: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An edit making the load raise (even RecursionError or MemoryError) is reported like
    any invalid edit — log line, last_error, metric at 0, old config kept — and the next
    edit is still picked up."""
    caplog.set_level(logging.ERROR, logger="app.routing.reload")
    old = watching.current
    config_file.write_text(RAISING_EDITS[kind])
    await wait_for(lambda: watching.last_error is not None)
    assert watching.last_error is not None and str(config_file) in watching.last_error
    assert watching.current is old
    assert gauge("signalbox_config_last_reload_successful") == 0
    assert "routes.yaml rejected" in caplog.text
    config_file.write_text(version(5))
    await wait_for(lambda: receivers(watching) == ["v5-a", "v5-b"])
    assert watching.last_error is None
    assert gauge("signalbox_config_last_reload_successful") == 1


async def test_watch_sees_edits_to_a_symlinks_target(tmp_path: Path) -> None:
    """routes.yaml → another directory's file: writing the target in place is picked up,
    and so is the target of a link pointed elsewhere later."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "other").mkdir()
    target = tmp_path / "shared" / "signalbox-routes.yaml"
    target.write_text(version(1))
    link = tmp_path / "etc" / "routes.yaml"
    link.symlink_to(target)
    holder = ConfigHolder(link)
    stop = asyncio.Event()
    task = asyncio.create_task(holder.watch(stop))
    try:
        await asyncio.sleep(0.3)
        target.write_text(version(2))
        await wait_for(lambda: receivers(holder) == ["v2-a", "v2-b"])
        moved = tmp_path / "other" / "routes-v3.yaml"
        moved.write_text(version(3))
        temp = tmp_path / "etc" / ".routes.yaml.tmp"
        temp.symlink_to(moved)
        os.replace(temp, link)  # how `ln -sfn` and ConfigMaps repoint a link
        await wait_for(lambda: receivers(holder) == ["v3-a", "v3-b"])
        await asyncio.sleep(0.3)  # the watch restarts on the new target's directory
        moved.write_text(version(4))
        await wait_for(lambda: receivers(holder) == ["v4-a", "v4-b"])
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
