"""The repository runs its own tests anywhere: its payloads are its own, with provenance."""

from __future__ import annotations

import hashlib
import re

from fixtures import REPO, fixtures_dir, index

# Directories whose files run at test, bench or serve time.
CODE_DIRS = ("app", "channels", "tests", "bench", "deploy")
# A path outside the clone: the sibling shared folder, or this machine's checkout.
OUTSIDE = re.compile(r"\.\./shared|/wor[k]/")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".j2", ".html", ".js", ".css", ".lua"}


def test_every_payload_is_listed_with_its_source_and_checksum() -> None:
    """Each payload file is in index.json with a source, and its bytes match the checksum."""
    root = fixtures_dir()
    assert root == REPO / "tests" / "payloads"
    on_disk = {
        p.relative_to(root).as_posix() for p in root.rglob("*.json") if p.name != "index.json"
    }
    listed = index()
    assert on_disk == set(listed)
    for name, entry in listed.items():
        assert entry["source"], name
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == entry["sha256"], name
    provenance = (root / "SOURCES.md").read_text("utf-8")
    for name in on_disk:
        assert name.rpartition("/")[2] in provenance, f"{name} missing from SOURCES.md"


def test_no_code_reads_outside_the_clone() -> None:
    """No module, test, benchmark or deploy file names a path outside the repository."""
    offenders = []
    for folder in CODE_DIRS:
        for path in (REPO / folder).rglob("*"):
            if path.suffix not in TEXT_SUFFIXES or "payloads" in path.parts:
                continue
            text = path.read_text("utf-8", errors="replace")
            offenders += [
                f"{path.relative_to(REPO)}:{n}"
                for n, line in enumerate(text.splitlines(), 1)
                if OUTSIDE.search(line)
            ]
    assert offenders == []
