"""The docs site (mkdocs.yml) builds with warnings as errors: a broken link or anchor, a page left out
of the nav or an unparsable docstring in the API reference fails this test."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None,
    reason="the docs extra is not installed (pip install -e '.[docs]')")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's banner about its successor
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return site_dir


def test_site_has_home_page_and_every_docs_page(site):
    assert (site / "index.html").is_file()
    built = {p.relative_to(site).with_suffix(".md").as_posix() for p in site.rglob("*.html")}
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages <= built, f"pages of docs/ missing from the site: {sorted(pages - built)}"


def test_search_index_covers_guides_and_api_reference(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"].split("#")[0] for doc in index["docs"] if "GradientTape" in doc["text"]}
    assert "custom-training.html" in locations  # a guide
    assert "api/training.html" in locations  # the reference generated from the docstring


def test_api_reference_is_generated_from_docstrings(site):
    page = (site / "api" / "training.html").read_text(encoding="utf-8")
    assert "watch_accessed_variables" in page  # an argument documented in GradientTape's Args:


def test_links_out_of_docs_point_at_copies_in_the_site(site):
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="repo/examples/quickstart.py"' in home
    assert (site / "repo" / "examples" / "quickstart.py").read_bytes() == (ROOT / "examples" / "quickstart.py").read_bytes()
    assert (site / "repo" / "index.html").is_file()  # ../README.md, rendered as a page
