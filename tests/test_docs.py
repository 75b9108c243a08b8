"""The docs site: every registered method and dataset has a page, the generated reference tables hold every
registered name, `mkdocs build --strict` passes (a broken link or a page missing from the navigation fails
it), and the built site opens in headless Chromium without a console error."""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from helpers.requires import importable

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: screenshots of the built site, kept after the run (as the report test keeps its page)
ARTIFACTS = Path(os.environ.get("POLYEDIT_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))


def nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for v in node.values() for p in nav_pages(v)]
    return [p for v in node for p in nav_pages(v)]


@functools.lru_cache(maxsize=1)
def nav() -> list[str]:
    # mkdocs.yml has no custom tags: the safe loader reads it
    return nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text("utf-8"))["nav"])


def test_every_registered_method_has_a_page_in_the_navigation():
    from polyedit.methods.base import method_names

    missing = [m for m in method_names() if f"methods/{m}.md" not in nav() or not (DOCS / "methods" / f"{m}.md").is_file()]
    assert not missing, f"registered methods without a docs page in mkdocs.yml's nav: {missing}"


def test_every_registered_dataset_has_a_page_in_the_navigation():
    from polyedit.data.registry import dataset_names

    missing = [d for d in dataset_names() if f"datasets/{d}.md" not in nav() or not (DOCS / "datasets" / f"{d}.md").is_file()]
    assert not missing, f"registered datasets without a docs page in mkdocs.yml's nav: {missing}"


def test_every_method_page_asks_for_its_generated_table():
    from polyedit.methods.base import method_names

    for m in method_names():
        assert f"<!-- polyedit:hparams {m} -->" in (DOCS / "methods" / f"{m}.md").read_text("utf-8"), m


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    importable("mkdocs")
    importable("mkdocstrings")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                          "-d", str(out)], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def text_of(html: Path) -> str:
    return re.sub(r"<[^>]+>", " ", html.read_text("utf-8"))


def test_the_site_builds_strictly_and_every_nav_page_is_there(site):
    for page in nav():
        assert (site / page.replace(".md", ".html")).is_file(), page
    assert not list(site.rglob("*.py")), "the build hook must not be published"


def test_each_method_page_has_every_hyperparameter_with_its_default(site):
    from polyedit.methods.base import get_method, method_names

    for m in method_names():
        html = text_of(site / "methods" / f"{m}.html")
        assert "polyedit:hparams" not in html, f"{m}: the marker was not replaced"
        hp = get_method(m).hparams
        for f in type(hp).model_fields:
            assert f in html, f"{m}: hyperparameter {f} missing from its page"


def test_the_reference_tables_list_every_protocol_and_dataset(site):
    from polyedit.data.problems import format_names
    from polyedit.data.registry import dataset_names
    from polyedit.evaluation.protocols import PROTOCOLS

    protocols = text_of(site / "protocols.html")
    assert all(p in protocols for p in PROTOCOLS.names()), [p for p in PROTOCOLS.names() if p not in protocols]
    datasets = text_of(site / "datasets" / "index.html")
    assert all(d in datasets for d in dataset_names())
    assert all(f in datasets for f in format_names())


def test_every_metric_and_every_record_field_has_its_entry(site):
    from polyedit.evaluation.metrics import METRICS
    from polyedit.evaluation.schema import FILES

    protocols = text_of(site / "protocols.html")
    assert [m for m in METRICS.names() if m not in protocols] == []
    records = text_of(site / "records.html")
    for name, (model, _) in FILES.items():
        assert name in records
        assert [f for f in model.model_fields if f not in records] == [], name


def test_an_unknown_method_in_a_marker_fails_the_strict_build(tmp_path):
    importable("mkdocs")
    docs = tmp_path / "docs"
    (docs / "hooks").mkdir(parents=True)
    (docs / "hooks" / "reference.py").write_text((DOCS / "hooks" / "reference.py").read_text("utf-8"))
    (docs / "index.md").write_text("# x\n\n<!-- polyedit:hparams no-such-method -->\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: t\nstrict: true\nexclude_docs: |\n  hooks/\n"
                                         "hooks:\n  - docs/hooks/reference.py\n")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-d", str(tmp_path / "site")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode != 0
    assert "no-such-method" in run.stdout + run.stderr


@pytest.fixture(scope="module")
def served(site):
    # over http, as a reader opens it: the search index is fetched by a web worker, which file:// forbids
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("page", ["index.html", "methods/memla.html", "protocols.html"])
def test_pages_open_in_chromium_without_console_errors(served, page, tmp_path):
    from helpers.browser import render_url

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"docs-{page.replace('/', '-').replace('.html', '')}.png"
    rendered = render_url(f"{served}/{page}", tmp_path, shot, height=1600)
    assert not rendered.console, rendered.console
    assert "polyedit" in rendered.dom and "md-nav" in rendered.dom  # the theme's navigation was drawn
    assert shot.stat().st_size > 10_000
