"""The docs stay true to the code: every file they name exists, every markdown link resolves, and every
TOML example loads through the real config loaders (so an example such as a wrong `piece_url` cannot
survive). Also: nothing in the repository points outside it."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tunasync.content.cid import CID
from tunasync.filecoin.piece_gateway import piece_url
from tunasync.manager.config import read_config
from tunasync.worker.config import check_worker_config, load_worker_config

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
TICKED = re.compile(r"`([^`\n]+)`")
# A path inside this repository: these roots are ours (other repositories' paths, e.g. ipfs/specs'
# `src/http-gateways/...`, do not start with them).
OWN_ROOT = re.compile(r"^(?:src/tunasync|tests|docs|bench|contrib|\.ci)/[\w./-]*[\w/]$")
PY_NAME = re.compile(r"^[\w./-]+\.pyi?$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
TOML_BLOCK = re.compile(r"^```toml\n(.*?)^```", re.MULTILINE | re.DOTALL)
MANAGER_SECTIONS = {"files", "auth", "mirrorz", "http"}


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:  # not a git checkout (an sdist): every file on disk counts
        return [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file() and ".venv" not in p.parts]
    return out.stdout.split()


def missing_names(text: str, files: list[str]) -> list[str]:
    """Names in backticks that should be files or folders of the repository and are not."""
    missing = []
    for m in TICKED.finditer(text):
        name = m.group(1).strip().split("::")[0].removeprefix("./")
        if any(c in name for c in "<>*{}$ "):
            continue  # a pattern or a placeholder
        if OWN_ROOT.match(name):
            if not (REPO / name).exists():
                missing.append(name)
        elif PY_NAME.match(name):  # a module named by its file name or a tail of its path
            if not any(f == name or f.endswith("/" + name) for f in files):
                missing.append(name)
    return missing


def test_name_checker_catches_a_renamed_file() -> None:
    files = ["tests/archive/test_archive_cli.py", "src/tunasync/archive/pipeline.py"]
    text = "`tests/archive/test_cli.py`, `archive/pipeline.py`, `pipeline.py`, `ipfs/specs` `src/http-gateways/x.md`"
    assert missing_names(text, files) == ["tests/archive/test_cli.py"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_a_doc_names_exists(doc: Path) -> None:
    missing = missing_names(doc.read_text(encoding="utf-8"), tracked())
    assert not missing, f"{doc.name} names files that do not exist (renamed?): {sorted(set(missing))}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves(doc: Path) -> None:
    bad = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if urlparse(target).scheme or target.startswith("#"):
            continue
        path = target.split("#")[0]
        if not (doc.parent / path).exists():
            bad.append(target)
    assert not bad, f"{doc.name} links to files that do not exist: {bad}"


def toml_examples() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in TOML_BLOCK.finditer(text):
            out.append((f"{doc.name}:{text[: m.start()].count(chr(10)) + 1}", m.group(1)))
    return out


def test_the_docs_have_toml_examples() -> None:
    assert len(toml_examples()) >= 5


@pytest.mark.parametrize(("where", "example"), toml_examples(), ids=[w for w, _ in toml_examples()])
def test_toml_example_loads_through_the_real_loader(where: str, example: str, tmp_path: Path) -> None:
    path = tmp_path / "example.toml"
    path.write_text(example, encoding="utf-8")
    if set(tomllib.loads(example)) & MANAGER_SECTIONS:
        _, problems = read_config(str(path))
        errors = [str(p) for p in problems if p.level == "error"]
    else:
        errors = [str(p) for p in check_worker_config(path) if p.level == "error"]
    # Files an example names on the operator's machine (token files under /etc) cannot exist here.
    errors = [e for e in errors if "cannot read /etc/" not in e]
    assert not errors, f"the example at {where} does not load: {errors}"


CID_TEXT = "baga6ea4seaqdnumj2qy2m33n4gq3aizapmnpfim5s5s7tufhjfaij7lolfogqdq"


@pytest.mark.parametrize(("where", "example"), [(w, e) for w, e in toml_examples() if "piece_url" in e])
def test_piece_url_examples_give_the_path_serve_answers(where: str, example: str, tmp_path: Path) -> None:
    """`tunasync serve -c` answers `/piece/<cid>`; providers fetch piece_url(base, cid) (docs/serve.md)."""
    path = tmp_path / "example.toml"
    path.write_text(example, encoding="utf-8")
    base = load_worker_config(path).archive.piece_url
    url = piece_url(base, CID.decode(CID_TEXT))
    assert urlparse(url).path == f"/piece/{CID_TEXT}", f"{where}: piece_url = {base!r} makes providers fetch {url}"


def test_nothing_points_outside_the_repository() -> None:
    pattern = "|".join(re.escape(s) for s in ("../" + "shared", "/" + "work/"))
    hits = []
    for name in tracked():
        p = REPO / name
        if p.suffix in {".png", ".car", ".so"} or not p.is_file():
            continue
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if re.search(pattern, line):
                hits.append(f"{name}:{n}")
    assert not hits, f"references to paths outside the repository: {hits}"


SECTION_REF = re.compile(r"docs/(\w+)\.md §(\d+(?:\.\d+)?)")


def numbered_sections(doc: str) -> set[str]:
    """The section numbers a doc's headings carry: `## 4. Worker` → 4, `### 4.13 Reload` → 4.13 (and
    4: a reference to a whole group of subsections)."""
    numbers = {m.group(1) for m in re.finditer(r"^#{2,6}\s+(\d+(?:\.\d+)?)[.\s]", doc, re.MULTILINE)}
    return numbers | {n.split(".")[0] for n in numbers}


def test_section_checker_reads_headings() -> None:
    assert numbered_sections("## 4. Worker\n### 4.13 Reload\n### 5 Making deals\n#### not 6\n### 7.1 x\n") == {
        "4", "4.13", "5", "7", "7.1"}


def test_every_section_the_code_cites_exists() -> None:
    """Comments cite `docs/compat.md §4.13` and the like: a renumbered or removed section fails here."""
    sections: dict[str, set[str]] = {}
    bad = []
    for name in tracked():
        if not name.endswith((".py", ".c", ".h", ".pyi", ".md")) or not (REPO / name).is_file():
            continue
        text = (REPO / name).read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            for doc, number in SECTION_REF.findall(line):
                if doc not in sections:
                    path = REPO / "docs" / f"{doc}.md"
                    sections[doc] = numbered_sections(path.read_text(encoding="utf-8")) if path.is_file() else set()
                if number not in sections[doc]:
                    bad.append(f"{name}:{n}: docs/{doc}.md §{number}")
    assert not bad, f"references to sections that do not exist: {bad}"
