"""The docs hold together: every relative link in a Markdown file reaches a file, and
every place the code cites a doc's heading (`docs/x.md, "Heading"`) finds that heading."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = sorted(path for path in ROOT.glob("**/*.md") if not {".venv", "data", "runs", "exports"} & set(path.parts))
CODE = sorted(
    path
    for pattern in ("**/*.py", "Makefile")
    for path in ROOT.glob(pattern)
    if not {".venv", "data", "runs", "exports"} & set(path.relative_to(ROOT).parts) and path.name != "test_docs.py"
)
CITATION = re.compile(r"([\w/.-]+\.md), \"([^\"]+)\"")


def headings(path: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file(path):
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target and not target.startswith("mailto:"):
            assert (path.parent / target).exists(), f"{path.relative_to(ROOT)} links to missing {target}"


def test_the_front_page_stays_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


def test_every_cited_heading_exists():
    cited = [(path, *match) for path in CODE for match in CITATION.findall(path.read_text(encoding="utf-8"))]
    assert cited, "the code cites no doc heading: the pattern no longer matches"
    for path, document, heading in cited:
        assert (ROOT / document).is_file(), f"{path.relative_to(ROOT)} cites missing {document}"
        assert heading in headings(ROOT / document), f"{path.relative_to(ROOT)} cites {document}, {heading!r}"
