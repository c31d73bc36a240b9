"""Sphinx configuration of the promptlimits documentation site.

Build it with ``sphinx-build -W -b html docs docs/_build/html`` after
``pip install -e ".[docs]"``: warnings are errors. The gallery's examples
(``examples/gallery/plot_*.py``) run during the build.
"""

import os
from pathlib import Path

import promptlimits

ROOT = Path(__file__).resolve().parent.parent

project = "promptlimits"
author = "The promptlimits developers"
copyright = "2026, the promptlimits developers"
release = version = promptlimits.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.md5", "auto_examples/*.codeobj.json"]
root_doc = "index"
templates_path = ["_templates"]

# docs/theory.md: $...$ and $$...$$ math, headings as link targets.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 4
myst_fence_as_directive = ["math"]  # GitHub-style ```math blocks render as display math

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

# A local MathJax (e.g. from the npm package "mathjax") for offline viewing; the default CDN otherwise.
if os.environ.get("PROMPTLIMITS_MATHJAX"):
    mathjax_path = os.environ["PROMPTLIMITS_MATHJAX"]

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples" / "gallery"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

html_theme = "pydata_sphinx_theme"
html_title = "promptlimits"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": []}
