"""No routes.yaml takes the router down: size, aliases, depth and counts are bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.routing import limits
from app.routing.config import ConfigInvalid, load_config, parse_config
from test_routing_regex import run_python


def alias_bomb(levels: int = 10, fan: int = 10) -> str:
    """Nested `routes:` where each level lists the previous one `fan` times: 826 bytes
    standing for over fan**(levels - 1) routes (10**9 here)."""
    lines = ["channels: { log: { type: log } }", "routes:"]
    lines.append("  - &r0 { to: [log], matchers: ['team=\"db\"'] }")
    for level in range(1, levels):
        children = ", ".join([f"*r{level - 1}"] * fan)
        lines.append(f"  - &r{level} {{ to: [log], routes: [{children}] }}")
    return "\n".join(lines) + "\n"


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as raised:
        parse_config(text.encode(), "routes.yaml", env={})
    return [str(e) for e in raised.value.errors]


def test_alias_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    """An 826-byte alias bomb (10**9 routes expanded) is refused naming the limit and its line,
    in a process allowed only 256 MB more memory than it had after its imports (the bomb
    grew the server to 3.2 GB before)."""
    bomb = alias_bomb()
    assert len(bomb) == 826
    (tmp_path / "routes.yaml").write_text(bomb)
    output = run_python(
        f"""
        import resource
        from app.routing.config import ConfigInvalid, load_config
        with open("/proc/self/status") as status:
            size = next(int(l.split()[1]) for l in status if l.startswith("VmSize:")) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + 256 * 2**20, resource.RLIM_INFINITY))
        try:
            load_config({str(tmp_path / "routes.yaml")!r}, env={{}})
        except ConfigInvalid as exc:
            print(exc)
        """,
        timeout=60,
    )
    assert output.strip() == (
        f"{tmp_path / 'routes.yaml'}:8: too many YAML nodes once aliases are expanded: "
        "315,194 (the limit is 250,000)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "channels: { log: { type: log } }\nroutes:\n"
            + "".join("  - { to: [log] }\n" for _ in range(limits.MAX_ROUTES + 1)),
            f"routes.yaml:{limits.MAX_ROUTES + 3}: route 5000: too many routes: 5,001 "
            "(the limit is 5,000)",
        ),
        (
            "channels: { log: { type: log } }\nroutes:\n  - to: [log]\n    matchers:\n"
            + "".join(f"      - 'l{i}=\"v\"'\n" for i in range(limits.MAX_MATCHERS_PER_ROUTE + 1)),
            "routes.yaml:4: route 0: matchers: too many matchers in one route: 101 "
            "(the limit is 100)",
        ),
        (
            "channels: { log: { type: log } }\nroutes:\n"
            + "".join(
                f"  - {{ to: [log], matchers: [{', '.join(['a=b'] * 100)}] }}\n"
                for _ in range(limits.MAX_MATCHERS // 100)
            )
            + "inhibit_rules: [{ source_matchers: [a=b], target_matchers: [b=c] }]\n",
            "routes.yaml:1: too many matchers in all: 50,002 (the limit is 50,000)",
        ),
        (
            "routes: []\nchannels:\n"
            + "".join(f"  c{i}: {{ type: log }}\n" for i in range(limits.MAX_CHANNELS + 1)),
            "routes.yaml:2: channels: too many channels: 1,001 (the limit is 1,000)",
        ),
        (
            "channels: { log: { type: log } }\nroutes: []\ninhibit_rules:\n"
            + "  - { source_matchers: [a=b], target_matchers: [c=d] }\n"
            * (limits.MAX_INHIBIT_RULES + 1),
            "routes.yaml:3: inhibit_rules: too many inhibit rules: 1,001 (the limit is 1,000)",
        ),
        (
            "channels: { log: { type: log } }\nanchor: &a x\nroutes:\n"
            + "".join("  - { to: [log], matchers: [*a] }\n" for _ in range(limits.MAX_ALIASES + 1)),
            "routes.yaml:1004: too many aliases: 1,001 (the limit is 1,000)",
        ),
        (
            "channels: { log: { type: log } }\nroutes: " + "[" * 70 + "]" * 70 + "\n",
            "routes.yaml:2: too many levels of nesting: 65 (the limit is 64)",
        ),
        (
            # Depth through aliases: each anchor nests the previous one 20 levels deeper.
            "a0: &a0 x\n"
            + "".join(f"a{i}: &a{i} {'[' * 20}*a{i - 1}{']' * 20}\n" for i in range(1, 5)),
            "routes.yaml:5: too many levels of nesting: 82 (the limit is 64)",
        ),
        (
            "channels: { log: { type: log } }\nroutes: &loop [{ to: [log], routes: *loop }]\n",
            "routes.yaml:2: an alias inside its own anchor (a recursive structure)",
        ),
    ],
    ids=[
        "routes",
        "matchers-per-route",
        "matchers-in-all",
        "channels",
        "inhibit-rules",
        "aliases",
        "depth",
        "depth-through-aliases",
        "recursive-alias",
    ],
)
def test_each_limit_is_an_error_naming_it(text: str, expected: str) -> None:
    """Past each limit the file is refused with file:line and the limit's value."""
    assert errors_of(text) == [expected]


def test_limits_leave_room_for_real_files() -> None:
    """At the limits (not past them) a file still loads: 5,000 routes, 450 of them with 100
    matchers, 49,550 matchers in all."""
    routes = [f"  - {{ to: [log], matchers: [{', '.join(['a=b'] * 100)}] }}\n"] * 450
    routes += ["  - { to: [log], matchers: [kind=pipeline] }\n"] * (limits.MAX_ROUTES - 450)
    text = "channels: { log: { type: log } }\nroutes:\n" + "".join(routes)
    config = parse_config(text.encode(), "routes.yaml", env={})
    assert len(config.routes()) == limits.MAX_ROUTES


def test_file_size_is_bounded(tmp_path: Path) -> None:
    """A file over 1 MiB is refused before it is parsed, naming the limit."""
    path = tmp_path / "routes.yaml"
    path.write_text("# padding\n" * (limits.MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(ConfigInvalid) as raised:
        load_config(path, env={})
    assert str(raised.value) == f"{path}: larger than the limit of 1,048,576 bytes"


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_file_that_never_ends_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    """routes.yaml as a FIFO (reading blocked forever) or a symlink to /dev/zero (reading
    filled memory) is refused as not a regular file, in a child that must finish."""
    path = tmp_path / "routes.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    output = run_python(
        f"""
        from app.routing.config import ConfigInvalid, load_config
        try:
            load_config({str(path)!r}, env={{}})
        except ConfigInvalid as exc:
            print(exc)
        """,
        timeout=30,
    )
    assert output.strip() == f"{path}: not a regular file"
