"""Render the report page from the collected sections with a Jinja2 template.

Autoescaping is on for everything: class names, paths, sample ids and error messages come from
users' files and are always inserted as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("curate.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = lambda n: f"{int(n):,}"
    env.filters["pct"] = lambda x: "—" if x is None else f"{100 * float(x):.1f}%"
    env.filters["num"] = lambda x, digits=2: "—" if x is None else f"{float(x):,.{digits}f}"
    return env


def render_page(context: Mapping[str, Any]) -> str:
    """The complete, self-contained HTML document for ``context`` (see curate.report.stage)."""
    return _environment().get_template("report.html.j2").render(**context)
