"""BENCHMARKS.md is a list of `## ` sections, each written by one benchmark: these helpers
replace one section and keep every other, whichever order they are in."""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
TITLE = "# Benchmarks\n"


def split_sections(document: str) -> tuple[str, list[str]]:
    """The text before the first `## ` heading, and each section from its heading on."""
    head, *rest = document.split("\n## ")
    return head, ["## " + part for part in rest]


def replace_section(text: str, path: Path = OUT) -> None:
    """Put the section (its heading is its first line) into the file in place of the one with
    the same heading, or at the end; every other section stays as it is."""
    current = path.read_text() if path.exists() else TITLE
    heading = text.splitlines()[0]
    head, sections = split_sections(current)
    body = text.rstrip() + "\n"
    for i, section in enumerate(sections):
        if section.splitlines()[0] == heading:
            sections[i] = body
            break
    else:
        sections.append(body)
    path.write_text(head.rstrip() + "\n\n" + "\n".join(s.rstrip() + "\n" for s in sections))


def sections_except(headings: set[str], path: Path = OUT) -> str:
    """Every section of the file whose heading is not one of these, as they are."""
    if not path.exists():
        return ""
    _, sections = split_sections(path.read_text())
    kept = [s.rstrip() + "\n" for s in sections if s.splitlines()[0] not in headings]
    return "\n".join(kept)
