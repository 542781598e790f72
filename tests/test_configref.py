"""The README's configuration reference is the one generated from the config models."""

from __future__ import annotations

from pathlib import Path

from tunasync import configref

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_carries_the_current_reference():
    assert configref.main(["--check", str(README)]) == 0, "run: python -m tunasync.configref --write README.md"


def test_every_key_is_described():
    text = configref.render()
    rows = [r for r in text.splitlines() if r.startswith("| `")]
    assert len(rows) > 100
    assert all(not r.rstrip().endswith("|  |") for r in rows), [r for r in rows if r.rstrip().endswith("|  |")]
    for key in ("`copies`", "`keep_years`", "`piece_url`", "`db_type`", "`cron`", "`archive`", "`status_file`"):
        assert key in text


def test_a_stale_copy_is_reported(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text(f"x\n{configref.BEGIN}\nold\n{configref.END}\n")
    assert configref.main(["--check", str(stale)]) == 1
    configref.main(["--write", str(stale)])
    assert configref.main(["--check", str(stale)]) == 0
