"""MkDocs hook: the table of estimators on the models page, built from the registry.

``<!-- estimators -->`` in a page becomes a table of every entry of
:mod:`skmatch.models.registry`: the class, its family's page and the first line of its
docstring. A model added to the registry appears there with no edit of the page.
"""

from __future__ import annotations

PAGES = {
    "baseline": ("baseline", "#popularity"),
    "two_tower": ("two-tower", "two_tower.md"),
    "sequential": ("sequential", "sequential.md"),
    "multi_interest": ("multi-interest", "multi_interest.md"),
}
MARKER = "<!-- estimators -->"


def estimators_table() -> str:
    from skmatch.models.registry import ESTIMATORS, load

    rows = ["| estimator | family | what it is |", "|---|---|---|"]
    for entry in ESTIMATORS:
        summary = (load(entry.name).__doc__ or "").strip().splitlines()[0]
        family, page = PAGES.get(entry.family, (entry.family, f"{entry.family}.md"))
        rows.append(f"| `{entry.name}` | [{family}]({page}) | {summary} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, estimators_table())
