"""py-spy attached to a running server, and a summary of where its samples went.

    .venv/bin/python bench/profiling.py PROFILE.raw   # summarise a recorded profile

The recording is py-spy's raw (collapsed-stack) format: open it in
https://www.speedscope.app or feed it to flamegraph.pl. The summary gives, per thread,
the share of samples by package (self time: where the CPU actually was) and by
function (self and inclusive), so "what dominates" has numbers.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from common import CLIENT_CPU, pinned

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_SITE = re.compile(r"site-packages/([^/]+)")
_STDLIB = re.compile(r"/lib/python3\.\d+/([^/]+)")


class Profiler:
    """py-spy record --pid, on the client core, until stop()."""

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        spy = Path(sys.executable).parent / "py-spy"
        if not spy.exists():
            sys.exit(f"[bench] py-spy missing: `{sys.executable} -m pip install py-spy`")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out.with_suffix(".raw")
        cmd = [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--threads",
            "--full-filenames",
            "--nonblocking",
            "--gil",
            "-o",
            str(self.out),
        ]
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            pinned(cmd, CLIENT_CPU), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if self.out.exists():
            summary = summarise(self.out)
            self.out.with_suffix(".txt").write_text(summary, encoding="utf-8")
            print(f"[bench] profile: {self.out} (summary: {self.out.with_suffix('.txt')})")
            print(summary)


def where(path: str) -> str:
    """A frame's file as a package: app.bus, channels, starlette, sqlite3 (stdlib), …"""
    if (m := _SITE.search(path)) is not None:
        return m.group(1).removesuffix(".py")
    for top in ("/app/", "/channels/", "/bench/"):
        if top in path:
            rest = path.split(top, 1)[1].removesuffix(".py").replace("/", ".")
            name = top.strip("/")
            parts = rest.split(".")
            return f"{name}.{parts[0]}" if name == "app" and len(parts) > 1 else name
    if (m := _STDLIB.search(path)) is not None:
        return m.group(1).removesuffix(".py") + " (stdlib)"
    return path or "?"


def _frames(stack: str) -> tuple[str, list[tuple[str, str]]]:
    parts = stack.split(";")
    thread = parts[0]
    name = thread.split(": ", 1)[1] if ": " in thread else thread
    frames: list[tuple[str, str]] = []
    for raw in parts[1:]:
        m = _FRAME.match(raw)
        if m is None:
            frames.append((raw, "?"))
        else:
            frames.append((m.group("func"), m.group("file")))
    return name, frames


def summarise(raw: Path, top: int = 25) -> str:
    by_thread: Counter[str] = Counter()
    self_pkg: dict[str, Counter[str]] = {}
    self_fn: dict[str, Counter[str]] = {}
    incl_fn: dict[str, Counter[str]] = {}
    incl_pkg: dict[str, Counter[str]] = {}
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        thread, frames = _frames(stack)
        thread = "sqlite-write" if thread.startswith("sqlite-write") else thread
        by_thread[thread] += count
        if not frames:
            continue
        func, file = frames[-1]
        self_pkg.setdefault(thread, Counter())[where(file)] += count
        self_fn.setdefault(thread, Counter())[f"{func} ({_short(file)})"] += count
        seen_fn = {f"{f} ({_short(p)})" for f, p in frames}
        seen_pkg = {where(p) for _, p in frames}
        for key in seen_fn:
            incl_fn.setdefault(thread, Counter())[key] += count
        for key in seen_pkg:
            incl_pkg.setdefault(thread, Counter())[key] += count
    total = sum(by_thread.values())
    out = [f"{raw.name}: {total} samples (non-idle)"]
    for thread, n in by_thread.most_common():
        out.append(f"\n== thread {thread}: {n} samples, {100 * n / max(total, 1):.1f}% of all")
        if n < total * 0.02:
            continue
        out.append("  self time by package:")
        out += _lines(self_pkg.get(thread, Counter()), n, 15)
        out.append("  inclusive time by package (any frame on the stack):")
        out += _lines(incl_pkg.get(thread, Counter()), n, 20)
        out.append("  self time by function:")
        out += _lines(self_fn.get(thread, Counter()), n, top)
        out.append("  inclusive time by function:")
        out += _lines(incl_fn.get(thread, Counter()), n, top + 15)
    return "\n".join(out) + "\n"


def _short(path: str) -> str:
    repo = f"{Path(__file__).resolve().parents[1]}/"
    for marker in ("site-packages/", repo, "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _lines(counter: Counter[str], total: int, top: int) -> list[str]:
    return [f"    {100 * n / max(total, 1):5.1f}%  {key}" for key, n in counter.most_common(top)]


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summarise(Path(arg)))
