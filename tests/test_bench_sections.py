"""BENCHMARKS.md: a benchmark rewrites its own section and leaves every other one alone."""

from __future__ import annotations

from pathlib import Path

from bench.sections import replace_section, sections_except

DOC = "# Benchmarks\n\nintro\n\n## A\n\na1\n\n## Serving\n\nold\n\n## Modeling\n\nm1\n"


def test_a_section_is_replaced_in_place_and_the_ones_after_it_stay(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(DOC)
    replace_section("## Serving\n\nnew\n", path)
    text = path.read_text()
    assert text.index("## A") < text.index("## Serving") < text.index("## Modeling")
    assert "new" in text and "old" not in text
    assert "m1" in text and "intro" in text


def test_a_new_section_goes_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(DOC)
    replace_section("## Later\n\nz\n", path)
    assert path.read_text().rstrip().endswith("## Later\n\nz")


def test_make_bench_keeps_the_sections_it_does_not_write(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(DOC)
    kept = sections_except({"## A", "## Modeling"}, path)
    assert kept.startswith("## Serving") and "old" in kept and "m1" not in kept
