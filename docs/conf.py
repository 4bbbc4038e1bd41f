"""Sphinx configuration: MyST Markdown pages, the furo theme, nothing fetched.

Build (warnings are errors, as in CI and tests/test_docs.py):
    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "arrears"
author = "the arrears authors"
copyright = "the arrears authors, Apache-2.0"
release = _version("arrears")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx_click",
    "arrears_docs",  # docs/_ext/arrears_docs.py: the CLI with plugin commands, hook options
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# Markdown: ```{directive} fences, ::: fences, heading anchors for [text](page.md#anchor)
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Code blocks without a language stay plain text.
highlight_language = "none"

# The hook reference (plugin_hooks.md) is autodoc over arrears.core.hookspecs.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
add_module_names = False
python_maximum_signature_line_length = 88

html_theme = "furo"
html_title = f"arrears {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
html_last_updated_fmt = None
