"""MkDocs hook: the navigation of the generated pages.

Takes ``docs/generated/nav.yml`` (written by ``analyzer.docs.build_site``, in
the lecture's order) and makes it the site's ``nav``.  Without it (pages not
generated yet) MkDocs falls back to its own order.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def on_config(config):
    nav_file = Path(config["docs_dir"]) / "generated" / "nav.yml"
    if nav_file.is_file():
        config["nav"] = yaml.safe_load(nav_file.read_text(encoding="utf-8"))
    return config
