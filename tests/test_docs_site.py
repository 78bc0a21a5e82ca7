"""What a new user reads: the README, the docs home page, the Makefile, the docs site's
tables (issue 25, item 7).

* The README documents the on-disk caches (``$JAXCNN_CACHE``, the persistent compilation
  cache and ``JAXCNN_NO_COMPILE_CACHE``), ``python -m experiments.plot``, and how long
  ``make test`` and ``make test-quick`` take; what it says matches the code.
* ``make test-quick`` exists, names only test files that exist, and leaves the experiment,
  multi-process, resume and fault-injection tests to ``make test``.
* The docs home page installs what ``make`` installs.
* The results page's widest tables fit a 1280 px window: the stylesheet's rules (always),
  and in headless Chromium on a built site (``make docs``; skipped without Chromium or
  ``site/``, as in CI, which builds the docs after the tests).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
CSS_PATH = ROOT / "docs" / "stylesheets" / "extra.css"


def _readme_section(title: str) -> str:
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:end if end >= 0 else len(README)]


def _make_recipe(target: str) -> str:
    m = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", MAKEFILE, re.MULTILINE)
    assert m, f"Makefile: no target {target!r}"
    return m.group(1)


# ----------------------------------------------------------------------------- README


def test_readme_documents_the_cache_folder(monkeypatch):
    from jaxcnn.data import cache_dir

    monkeypatch.delenv("JAXCNN_CACHE", raising=False)
    assert cache_dir() == os.path.expanduser("~/.cache/jaxcnn")
    monkeypatch.setenv("JAXCNN_CACHE", "/somewhere/else")
    assert cache_dir() == "/somewhere/else"
    text = " ".join(_readme_section("Quick start").split())
    for needed in ("`$JAXCNN_CACHE`", "`~/.cache/jaxcnn`", "persistent compilation cache",
                   "`JAXCNN_NO_COMPILE_CACHE=1`", "`xla/`"):
        assert needed in text, f"README Quick start: {needed} is not mentioned"


def test_readme_compilation_cache_matches_the_code(monkeypatch):
    from experiments.harness.cache import enable_compilation_cache

    monkeypatch.setenv("JAXCNN_NO_COMPILE_CACHE", "1")
    assert enable_compilation_cache() is None  # the README's off switch is the code's
    # The studies the README says turn the cache on are exactly those that call it.
    calling = sorted(
        d.name for d in (ROOT / "experiments").iterdir()
        if d.is_dir() and any("enable_compilation_cache(" in f.read_text(encoding="utf-8")
                              for f in d.glob("*.py")) and d.name != "harness")
    assert calling, "no study turns the compilation cache on any more: update the README"
    paragraph = " ".join(_readme_section("Quick start").split())
    listed = re.search(r"which the training studies \(([^)]*)\) turn on", paragraph)
    assert listed, "README Quick start: which studies use the compilation cache is not said"
    named = sorted(re.findall(r"`(\w+)`", listed.group(1)))
    assert named == calling, (f"README names {named} as turning the compilation cache on; "
                              f"the code: {calling}")


def test_readme_documents_replotting():
    from experiments.plot import build_parser

    usage = " ".join(build_parser().format_usage().split())
    assert "RESULTS.json" in usage and "--out" in usage
    text = " ".join(_readme_section("Quick start").split())
    assert "`python -m experiments.plot RESULTS.json [--out DIR]`" in text
    example = re.search(r"`python -m experiments\.plot (docs/results/\w+\.json) --out \S+`",
                        text)
    assert example and (ROOT / example.group(1)).is_file()


def test_readme_states_how_long_the_tests_take():
    text = " ".join(_readme_section("Quick start").split())
    assert re.search(r"make test-quick +# [^`]*about \d+(-\d+)? minutes?", README), \
        "README: the Quick start block gives no time for make test-quick"
    assert re.search(r"make test +# [^`]*about \d+(-\d+)? minutes on 2 idle cores", README), \
        "README: the Quick start block gives no time for make test"
    block = re.search(r"make test +# [^`]*about (\d+(-\d+)?) minutes on 2 idle cores", README)
    assert re.search(r"`make test` \(`pytest -n 2`\)[^.]*about " + block.group(1) +
                     r" minutes on 2 idle cores and longer on a busy machine", text)


# ----------------------------------------------------------------------------- Makefile


def test_make_test_quick_selects_the_core_library():
    assert re.search(r"^\.PHONY:.*\btest-quick\b", MAKEFILE, re.MULTILINE)
    recipe = _make_recipe("test-quick")
    assert "$(STAMP)" in MAKEFILE.split("test-quick:")[1].split("\n")[0]
    variable = re.search(r"^QUICK_TESTS\s*:?=((?:.*\\\n)*.*)$", MAKEFILE, re.MULTILINE)
    assert variable and "$(QUICK_TESTS)" in recipe
    files = variable.group(1).replace("\\\n", " ").split()
    assert files, "QUICK_TESTS is empty"
    for f in files:
        assert (ROOT / f).exists(), f"Makefile QUICK_TESTS: {f} does not exist"
    for core in ("conv", "patches", "embed", "nn", "models", "metrics", "optim", "stats",
                 "validation", "data", "public_names"):
        assert f"tests/test_{core}.py" in files, f"make test-quick leaves out test_{core}.py"
    for left_out in ("experiment", "multiprocess", "fault", "resume", "cli_processes",
                     "benchmark", "sharing_emergence", "report", "plot"):
        assert not any(left_out in f for f in files), f"make test-quick runs {left_out} tests"
    assert '-m "not slow"' in recipe


# ----------------------------------------------------------------------------- docs home


def test_docs_home_installs_what_make_installs():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"]
    make_extras = re.findall(r"pip install --quiet -e '\.\[([\w,]+)\]'", _make_recipe("$(STAMP)"))
    assert make_extras == ["test"]
    home = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    install = home.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "pip install -e '.[test]'" in install, "docs/index.md: not the extras make installs"
    for named in re.findall(r"\.\[([\w,]+)\]", install):
        for extra in named.split(","):
            assert extra in extras, f"docs/index.md names an extra {extra!r} pyproject lacks"
    assert "make test-quick" in install and "make test " in install


# ----------------------------------------------------------------------------- tables

_TABLE = ".md-typeset table:not([class])"


def _css_rules(text: str) -> dict[str, dict[str, str]]:
    """``{selector: {property: value}}`` of a flat stylesheet (no @media blocks)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    rules: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
        decls = {k.strip(): v.strip() for k, _, v in
                 (d.partition(":") for d in body.split(";") if d.strip())}
        for sel in selectors.split(","):
            rules.setdefault(" ".join(sel.split()), {}).update(decls)
    return rules


def test_stylesheet_lets_wide_tables_fit_or_scroll():
    mkdocs = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^extra_css:\s*\n\s+- stylesheets/extra\.css\s*$", mkdocs, re.MULTILINE)
    rules = _css_rules(CSS_PATH.read_text(encoding="utf-8"))
    # Material gives every header cell min-width: 5rem (9 columns: 900 px, wider than the
    # content column of a 1280 px window), and 1.25em of padding each side.
    assert rules.get(f"{_TABLE} th", {}).get("min-width") in ("0", "0px", "0rem")
    for cell in ("th", "td"):
        padding = rules.get(f"{_TABLE} {cell}", {}).get("padding", "")
        assert padding and all(float(p.rstrip("em")) <= 0.75 for p in padding.split()), cell
    assert rules.get(_TABLE, {}).get("overflow-x") == "auto"
    assert rules.get(_TABLE, {}).get("max-width") == "100%"


def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser",
                 "google-chrome", "google-chrome-stable"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


# The results page in a 1280 px frame; for every table inside the article: its last header
# cell's right edge, the article's right edge, and whether an ancestor (or the table)
# scrolls horizontally. The current docs/stylesheets/extra.css is injected by the server.
_CHECK_PAGE = """<!doctype html><html><body style="margin:0">
<iframe id="f" src="/results/" width="1280" height="1200" style="border:0"></iframe>
<pre id="out">pending</pre>
<script>
const f = document.getElementById('f');
f.onload = () => setTimeout(() => {
  const d = f.contentDocument, w = f.contentWindow;
  const art = d.querySelector('article') || d.body;
  const limit = Math.min(art.getBoundingClientRect().right, d.documentElement.clientWidth);
  const tables = [...art.querySelectorAll('table')].map(t => {
    const row = t.rows[0], cell = row.cells[row.cells.length - 1];
    let scrolls = false;
    for (let e = t; e && e !== art; e = e.parentElement) {
      const ox = w.getComputedStyle(e).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && e.scrollWidth > e.clientWidth + 1) {
        scrolls = true; break;
      }
    }
    return {header: [...row.cells].map(c => c.textContent.trim()),
            right: cell.getBoundingClientRect().right, limit, scrolls};
  });
  document.getElementById('out').textContent =
    'RESULT' + JSON.stringify({width: w.innerWidth, tables}) + 'END';
}, 1000);
</script></body></html>"""


def _serve(site: Path, css: bytes):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            body = {"/__check__.html": (_CHECK_PAGE.encode(), "text/html"),
                    "/stylesheets/extra.css": (css, "text/css")}.get(self.path.split("?")[0])
            if body is None:
                return super().do_GET()
            self.send_response(200)
            self.send_header("Content-Type", body[1])
            self.send_header("Content-Length", str(len(body[0])))
            self.end_headers()
            self.wfile.write(body[0])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_results_page_tables_fit_at_1280px():
    chromium = _chromium()
    site = Path(os.environ.get("JAXCNN_DOCS_SITE", ROOT / "site"))
    if chromium is None:
        pytest.skip("no Chromium (set CHROMIUM=/path/to/chrome)")
    if not (site / "results" / "index.html").is_file():
        pytest.skip(f"no built docs site in {site} (make docs)")
    server = _serve(site, CSS_PATH.read_bytes())
    try:
        with tempfile.TemporaryDirectory() as profile:
            proc = subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1280,1400", "--virtual-time-budget=15000", "--dump-dom",
                 f"http://127.0.0.1:{server.server_address[1]}/__check__.html"],
                capture_output=True, text=True, timeout=180, check=False)
    finally:
        server.shutdown()
    found = re.search(r"RESULT(.*?)END", proc.stdout, re.DOTALL)
    assert found, f"no result from Chromium (rc {proc.returncode}): {proc.stderr[-800:]}"
    result = json.loads(found.group(1))
    assert result["width"] == 1280
    tables = result["tables"]
    assert len(tables) >= 5, "the results page has (almost) no tables"
    hidden = [t["header"] for t in tables if t["right"] > t["limit"] + 1 and not t["scrolls"]]
    assert not hidden, f"tables with their last column out of view and no scrolling: {hidden}"
    # The tables (weight sharing and IPR columns, 9-10 columns) fit outright.
    wide = [t for t in tables if {"weight sharing", "IPR"} & set(t["header"])
            or len(t["header"]) >= 9]
    assert wide
    cut = [(t["header"], round(t["right"]), round(t["limit"])) for t in wide
           if t["right"] > t["limit"] + 1]
    assert not cut, f"wide tables that do not fit the 1280 px page (right edge, limit): {cut}"



# ----------------------------------------------------------------------------- results page


def _results_hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("results_hook", ROOT / "docs/hooks/results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_page_names_source_files_instead_of_linking_them():
    hook = _results_hook()
    text = ("see [its protocol](experiments/x/run.py), ![f](figures/f.png), "
            "[paper](https://arxiv.org/abs/1), [up](#top)")
    assert hook.repo_links(text) == (
        "see its protocol (`experiments/x/run.py`), ![f](figures/f.png), "
        "[paper](https://arxiv.org/abs/1), [up](#top)")
    # Every link left in the README's results section resolves on the site: a web link,
    # an anchor, or a figure that exists (mkdocs --strict fails on anything else).
    section = hook.repo_links(_readme_section("What we found").replace(
        "](docs/figures/", "](figures/"))
    for target in re.findall(r"\]\(([^)\s]+)\)", section):
        if target.startswith("figures/"):
            assert (ROOT / "docs" / target).is_file(), target
        else:
            assert re.match(r"^([a-z]+:|#)", target), target
