"""docs/compat.md holds one decision (kept / fixed) per numbered Go quirk of its section 11, each
quirk names the Go tunasync file it comes from, and every module or test the doc points at exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMPAT = REPO / "docs" / "compat.md"
DECISIONS = {"kept", "fixed"}

# "## 11. Quirks ..." (any heading level; "11." or "11 " or "§11")
SECTION_11 = re.compile(r"^(#{1,6})\s*(?:§\s*)?11(?:[.:)]|\s)", re.MULTILINE)
HEADING = re.compile(r"^(#{1,6})\s", re.MULTILINE)
# A quirk item starts a line: "12. text", "12) text", "- 12. text", "**12.** text", "#12: text".
# Continuation lines are indented, so an indented number never counts.
ITEM = re.compile(r"^(?:[-*+]\s+)?(?:\*\*)?#?(\d+)(?:\*\*)?\s*[.):](?:\*\*)?\s+\S", re.MULTILINE)
# A table row of the quirk table: its first cell is a number.
ROW = re.compile(r"^\|\s*(\d+)\s*\|(.*)\|\s*$", re.MULTILINE)
# A path in backticks: `src/...py`, `tests/...py::test_name`, `docs/...`.
PATH = re.compile(r"`((?:src|tests|docs|contrib|bench|dev)/[^`\s:]+)(?:::([A-Za-z_][A-Za-z0-9_]*))?`")


def spec_quirk_numbers(spec: str) -> list[int]:
    m = SECTION_11.search(spec)
    assert m, "spec has no section 11"
    level = len(m.group(1))
    end = len(spec)
    for h in HEADING.finditer(spec, m.end()):
        if len(h.group(1)) <= level:
            end = h.start()
            break
    return [int(n) for n in ITEM.findall(spec[m.end():end])]


def split_cells(inner: str) -> list[str]:
    """Cells of a markdown row (outer pipes removed); `\\|` is a literal pipe."""
    return [c.replace("\\|", "|").strip() for c in re.split(r"(?<!\\)\|", inner)]


def compat_rows() -> dict[int, list[str]]:
    rows: dict[int, list[str]] = {}
    text = COMPAT.read_text(encoding="utf-8")
    for m in ROW.finditer(text):
        number = int(m.group(1))
        assert number not in rows, f"quirk {number} has more than one row in docs/compat.md"
        rows[number] = [m.group(1), *split_cells(m.group(2))]
    return rows


def decision_of(cells: list[str]) -> str:
    return cells[2].strip().strip("*_`").strip().lower()


def check_path(path: str, func: str | None) -> str | None:
    """None when `path` (and `func` in it, if given) exists, else what is missing."""
    target = REPO / path
    if not target.exists():
        return path
    if func is not None:
        if not target.is_file() or not re.search(rf"^\s*(?:async\s+)?def {re.escape(func)}\(",
                                                 target.read_text(encoding="utf-8"), re.MULTILINE):
            return f"{path}::{func}"
    return None


def test_spec_parser_reads_numbered_items():
    spec = "## 10. x\n1. not this\n## 11. Quirks\nIntro:\n1. one\n   2. continuation\n2) two\n- **3.** three\n" \
           "---\n## 12. y\n4. not this\n"
    assert spec_quirk_numbers(spec) == [1, 2, 3]


def quirk_items(doc: str) -> dict[int, str]:
    """The numbered items of section 11 (an item runs to the next item), by number."""
    m = SECTION_11.search(doc)
    assert m, "docs/compat.md has no section 11"
    level = len(m.group(1))
    end = len(doc)
    for h in HEADING.finditer(doc, m.end()):
        if len(h.group(1)) <= level:
            end = h.start()
            break
    body = doc[m.end():end]
    starts = list(ITEM.finditer(body))
    return {int(a.group(1)): body[a.start():b.start() if b else len(body)]
            for a, b in zip(starts, [*starts[1:], None], strict=True)}


def test_one_decision_per_quirk():
    numbers = spec_quirk_numbers(COMPAT.read_text(encoding="utf-8"))
    assert len(numbers) == 37, f"section 11 should list Go 0.10's 37 quirks, found {numbers}"
    assert len(numbers) == len(set(numbers)), f"section 11 repeats numbers: {numbers}"
    rows = compat_rows()
    assert sorted(rows) == sorted(numbers), (
        f"missing rows: {sorted(set(numbers) - set(rows))}, rows without a quirk: {sorted(set(rows) - set(numbers))}")


def test_rows_have_a_decision_a_reason_and_a_place():
    rows = compat_rows()
    assert rows, "docs/compat.md has no quirk table"
    for number, cells in rows.items():
        assert len(cells) == 5, f"quirk {number}: expected 5 cells (# | quirk | decision | why | where), got {cells}"
        assert decision_of(cells) in DECISIONS, f"quirk {number}: decision {cells[2]!r} is not kept/fixed"
        assert cells[1] and cells[3], f"quirk {number}: empty quirk or why"
        where = PATH.findall(cells[4])
        assert where, f"quirk {number}: the where column names no module or test"
        missing = [p for p in (check_path(path, func or None) for path, func in where) if p]
        assert not missing, f"quirk {number}: these do not exist in the repo: {missing}"


def test_every_path_named_in_the_doc_exists():
    text = COMPAT.read_text(encoding="utf-8")
    missing = [p for p in (check_path(path, func or None) for path, func in PATH.findall(text)) if p]
    assert not missing, f"docs/compat.md names paths that do not exist: {missing}"


def test_each_quirk_names_its_go_source():
    """A reader can check every quirk against https://github.com/tuna/tunasync at v0.10.0."""
    go_file = re.compile(r"`((?:manager|worker|internal|cmd/tunasync|cmd/tunasynctl)/[a-z_]+\.go)`")
    items = quirk_items(COMPAT.read_text(encoding="utf-8"))
    assert sorted(items) == list(range(1, 38))
    bare = [n for n, text in items.items() if not go_file.search(text)]
    assert not bare, f"quirks that name no Go source file: {bare}"


@pytest.mark.parametrize("decision", sorted(DECISIONS))
def test_decision_words_are_used_as_defined(decision):
    assert f"**{decision}**" in COMPAT.read_text(encoding="utf-8"), f"the intro should define {decision!r}"
