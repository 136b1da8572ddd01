"""The web console in a real headless Chromium (Debian's chromium-headless-shell, driven by Playwright) against a
real `simvec serve` on a loopback port: what the pages show must equal what the API answers.

scripts/ensure-browser.sh installs the browser (`make test` runs it). The pages also get screenshotted into
docs/screenshots/ for the README.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import numpy as np
import pytest
from playwright.sync_api import expect, sync_playwright

from simvec import Collection
from simvec.demo import sample_corpus

pytestmark = [pytest.mark.model, pytest.mark.engine]

BROWSER = "/usr/bin/chromium-headless-shell"
# Keep the browser's traffic on loopback: no component updates, sync, field trials or other background calls.
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
]
KEY = "console-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "docs" / "screenshots"
XSS_TEXT = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> tomato soup'

_spec = importlib.util.spec_from_file_location("load", REPO / "benchmarks" / "load.py")
load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(load)


def build_collections(root: Path, encoder) -> subprocess.Popen:
    """`papers`: the bundled 100-document corpus (topic, year); `papers-binary`: the same, compressed.

    Returns the running `simvec tune` on `papers` (its report feeds the trade-off chart), to overlap with the
    server's start-up.
    """
    docs = sample_corpus()
    texts, ids = [d["text"] for d in docs], [d["id"] for d in docs]
    metadata = [{"topic": d["topic"], "year": 2000 + i % 25} for i, d in enumerate(docs)]
    for name, compression in (("papers", None), ("papers-binary", "binary")):
        with Collection.create(root / name, model=encoder, compression=compression) as collection:
            collection.add(texts, ids=ids, metadata=metadata)
    command = [sys.executable, "-m", "simvec", "tune", str(root / "papers"), "--ram-bytes-per-vector", "1536"]
    command += ["--min-retention", "0.9", "--pseudo-queries", "50"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(scope="module")
def server(tmp_path_factory, encoder):
    root = tmp_path_factory.mktemp("console")
    tuning = build_collections(root, encoder)
    with load.running_server(root, api_key=KEY) as url:
        _, errors = tuning.communicate(timeout=900)
        assert tuning.returncode == 0, errors[-2000:]
        yield url


@pytest.fixture(scope="module")
def browser():
    if not os.access(BROWSER, os.X_OK):
        pytest.fail(f"{BROWSER} is missing: run scripts/ensure-browser.sh (apt-get install chromium-headless-shell)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=BROWSER, args=BROWSER_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A browser tab (its own context) that records console errors and every host it tried to reach."""

    def __init__(
        self, browser, server: str, *, key: str | None = KEY, width: int = 1280, height: int = 800, csp: bool = True
    ) -> None:
        # csp=False turns the page's Content-Security-Policy off: the escaping test proves escaping alone suffices.
        self.context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=not csp)
        if key:  # what the key prompt stores, for the tests that are not about the prompt
            self.context.add_init_script(f"sessionStorage.setItem('simvec.apiKey', {json.dumps(key)})")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("request", lambda r: self.hosts.add(r.url.split("/")[2] if "://" in r.url else r.url))
        self.server = server

    def goto(self, path: str):
        self.page.goto(self.server + path)
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, server):
    tab = Page(browser, server)
    yield tab
    tab.close()


def get(url: str, **kwargs) -> httpx.Response:
    return httpx.get(url, headers=AUTH, timeout=120, **kwargs)


def api_search(server: str, collection: str, query: str, mode: str, k: int = 10, filter: dict | None = None) -> list:
    body = {"query": query, "k": k, "mode": mode, **({"filter": filter} if filter else {})}
    response = httpx.post(f"{server}/v1/collections/{collection}/search", json=body, headers=AUTH, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()["hits"]


def assert_same_hits(shown: list[tuple[str, float]], hits: list[dict]) -> None:
    """The page shows the API's hits in the API's order, each score to its 4 decimals."""
    assert [i for i, _ in shown] == [h["id"] for h in hits]
    for (_, score), hit in zip(shown, hits, strict=True):
        assert abs(score - hit["score"]) <= 0.00005 + 1e-9


def shown_hits(page, within: str = "#results") -> list[tuple[str, float]]:
    page.wait_for_selector(f"{within} .summary, {within} .error", timeout=60_000)
    hits = page.locator(f"{within} li.hit")
    ids = hits.evaluate_all("items => items.map(li => li.dataset.id)")
    scores = [float(t.split()[-1]) for t in page.locator(f"{within} li.hit .hit-score").all_inner_texts()]
    return list(zip(ids, scores, strict=True))


def search_url(**params) -> str:
    return "/ui/search?" + urlencode(params, quote_via=quote)


# ---- the pages and the API around them ---------------------------------------------------------------


def test_console_pages_need_no_key_but_the_api_does(server):
    for path in ("/", "/ui", "/ui/search?q=x", "/ui/collections/papers", "/ui/map"):
        response = httpx.get(server + path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html"), path
        assert "script-src 'self'" in response.headers["content-security-policy"]
    assert httpx.get(f"{server}/ui/static/console.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{server}/ui/static/../app.py").status_code == 404
    assert httpx.get(f"{server}/ui/static/secrets.txt").status_code == 404
    assert httpx.get(f"{server}/v1/collections").status_code == 401
    assert httpx.get(f"{server}/v1/collections/papers/map").status_code == 401
    paths = get(f"{server}/openapi.json").json()["paths"]
    for path in ("/v1/collections/{name}/documents", "/v1/collections/{name}/map", "/v1/collections/{name}/tune"):
        assert "get" in paths[path] and paths[path]["get"]["description"], path
    assert "/ui" not in paths and "/" not in paths  # the pages are not API


def test_documents_page_map_and_tune_report(server, encoder):
    page = get(f"{server}/v1/collections/papers/documents?limit=5&offset=3").json()
    corpus = sample_corpus()
    assert page["count"] == 100 and [d["id"] for d in page["documents"]] == [d["id"] for d in corpus[3:8]]
    assert page["documents"][0]["metadata"] == {"topic": corpus[3]["topic"], "year": 2003}

    mapped = get(f"{server}/v1/collections/papers/map?color_by=topic&method=pca").json()
    assert mapped["method"] == "pca" and mapped["sampled"] == 100 and mapped["fields"] == {"topic": 100, "year": 100}
    points = {p["id"]: p for p in mapped["points"]}
    assert points["space-01"]["value"] == "space"
    # The map is the PCA of the stored vectors: compare with scikit-learn on the encoder's own vectors (up to sign).
    from sklearn.decomposition import PCA

    vectors = encoder.encode([d["text"] for d in corpus])
    expected = PCA(n_components=2).fit_transform(vectors.astype(np.float64))
    got = np.array([[points[d["id"]]["x"], points[d["id"]]["y"]] for d in corpus])
    for axis in range(2):
        assert abs(np.corrcoef(expected[:, axis], got[:, axis])[0, 1]) > 0.999
    unknown = get(f"{server}/v1/collections/papers/map?color_by=colour&sample=10").json()
    assert [p["value"] for p in unknown["points"]] == [None] * 10
    assert get(f"{server}/v1/collections/papers/documents?limit=0").status_code == 422
    assert (
        get(f"{server}/v1/collections/papers/documents?limit=5&offset=98").json()["documents"][-1]["id"]
        == corpus[-1]["id"]
    )
    sampled = get(f"{server}/v1/collections/papers/map?sample=30").json()
    assert sampled["sampled"] == 30 and sampled["count"] == 100 and len({p["id"] for p in sampled["points"]}) == 30

    report = get(f"{server}/v1/collections/papers/tune").json()
    assert report["available"] and report["metric"] == "recall@10 vs float32 exact" and report["queries"] == 50
    configs = {m["config"]: m for m in report["measured"]}
    assert report["chosen"] in configs and all(0 <= m["retention"] <= 1 for m in configs.values())
    assert configs["int8"]["ram_bytes_per_vector"] == 384 and report["current"] == "none"
    assert get(f"{server}/v1/collections/papers-binary/tune").json() == {
        "available": False,
        "current": "binary+int8x10",
        "measured": [],
        **dict.fromkeys(("metric", "queries", "chosen", "best", "reason", "applied")),
    }
    missing = get(f"{server}/v1/collections/nope/map")
    assert missing.status_code == 404 and "not found" in missing.json()["error"]["message"]


# ---- search ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_search_shows_the_apis_hits_in_each_mode(tab, server, mode):
    query = "telescopes observing distant galaxies"
    page = tab.goto(search_url(collection="papers", q=query, mode=mode, k=7))
    expected = api_search(server, "papers", query, mode, k=7)
    assert len(expected) == 7 if mode != "keyword" else expected  # keyword: only documents containing a query word
    assert_same_hits(shown_hits(page), expected)
    first = page.locator("#results li.hit").first
    assert expected[0]["text"] == first.locator(".hit-text").inner_text()
    assert f"topic: {expected[0]['metadata']['topic']}" in first.locator(".meta").inner_text()
    marks = [m.lower() for m in page.locator("#results mark").all_inner_texts()]
    assert marks and all(m.startswith(("telescop", "observ", "distant", "galax")) for m in marks)
    if mode == "keyword":  # every keyword hit contains a query word, highlighted
        assert page.locator("#results li.hit").count() == page.locator("#results li.hit:has(mark)").count()
    assert page.locator("select[name=mode]").input_value() == mode


def test_filter_editor_builds_the_apis_filter(tab, server):
    page = tab.goto("/ui/search?collection=papers")
    page.fill("#q", "how do I stay healthy")
    page.fill("[name=k]", "25")
    page.click("text=+ Condition")
    condition = page.locator(".condition").last
    condition.locator("[name=filter-field]").fill("topic")
    condition.locator("[name=filter-op]").select_option("$in")
    condition.locator("[name=filter-value]").fill("health, sports")
    page.click("text=+ Condition")
    condition = page.locator(".condition").last
    condition.locator("[name=filter-field]").fill("year")
    condition.locator("[name=filter-op]").select_option("$gte")
    condition.locator("[name=filter-value]").fill("2010")
    wanted = {"$and": [{"topic": {"$in": ["health", "sports"]}}, {"year": {"$gte": 2010}}]}
    assert json.loads(page.locator(".filter-preview").inner_text().removeprefix("filter: ")) == wanted
    page.locator("#q").press("Enter")  # Enter searches
    page.wait_for_url("**filter=**")
    expected = api_search(server, "papers", "how do I stay healthy", "dense", k=25, filter=wanted)
    assert 0 < len(expected) < 20  # the filter leaves fewer than k documents, and all of them are shown
    assert [i for i, _ in shown_hits(page)] == [h["id"] for h in expected]
    assert all(h["metadata"]["topic"] in ("health", "sports") and h["metadata"]["year"] >= 2010 for h in expected)

    page.check("text=Raw JSON")  # the raw view holds the same JSON; editing it there is searched as typed
    assert json.loads(page.locator("[name=filter-json]").input_value()) == wanted
    page.fill("[name=filter-json]", '{"year": {"$between": [1, 2]}}')
    page.locator("#q").press("Enter")
    error = page.locator("#results .error")
    error.wait_for()
    assert "Error 400: invalid filter: unknown operator '$between'" in error.inner_text()  # the API's message


def test_a_shared_url_reproduces_the_search_and_history_works(browser, server):
    wanted = {"year": {"$lt": 2012}}
    url = search_url(collection="papers", q="money and saving", mode="hybrid", k=5, filter=json.dumps(wanted))
    expected = api_search(server, "papers", "money and saving", "hybrid", 5, wanted)
    first, second = Page(browser, server), Page(browser, server)
    try:
        assert_same_hits(shown_hits(first.goto(url)), expected)
        page = second.goto(url)  # a fresh tab opening the shared link
        assert_same_hits(shown_hits(page), expected)
        rows = page.locator(".condition")
        assert rows.count() == 1 and rows.locator("[name=filter-field]").input_value() == "year"
        assert rows.locator("[name=filter-op]").input_value() == "$lt"

        page.fill("#q", "rockets and planets")
        page.locator("#q").press("Enter")
        page.wait_for_url("**q=rockets**")
        other = api_search(server, "papers", "rockets and planets", "hybrid", 5, wanted)
        assert_same_hits(shown_hits(page), other)
        page.go_back()
        page.wait_for_url("**q=money**")
        expect(page.locator("#q")).to_have_value("money and saving")
        assert_same_hits(shown_hits(page), expected)
        page.reload()
        assert_same_hits(shown_hits(page), expected)
        page.go_forward()
        page.wait_for_url("**q=rockets**")
        expect(page.locator("#q")).to_have_value("rockets and planets")
        assert_same_hits(shown_hits(page), other)
    finally:
        first.close()
        second.close()


def test_side_by_side_marks_the_shared_hits(tab, server):
    query = "learning to cook pasta"
    page = tab.goto(
        "/ui/compare?"
        + urlencode(
            {"q": query, "k": 8, "collection": "papers", "mode": "dense", "collection2": "papers", "mode2": "keyword"}
        )
    )
    dense, keyword = api_search(server, "papers", query, "dense", 8), api_search(server, "papers", query, "keyword", 8)
    left, right = shown_hits(page, "[data-side=left]"), shown_hits(page, "[data-side=right]")
    assert_same_hits(left, dense)
    assert_same_hits(right, keyword)
    shared = {h["id"] for h in dense} & {h["id"] for h in keyword}
    assert 0 < len(shared) < 8
    for side in ("left", "right"):
        marked = page.locator(f"[data-side={side}] li.hit.shared").evaluate_all("xs => xs.map(x => x.dataset.id)")
        assert set(marked) == shared
    keyword_rank = {h["id"]: i + 1 for i, h in enumerate(keyword)}
    some = sorted(shared)[0]
    assert f"#{keyword_rank[some]} there" in page.locator(f"[data-side=left] li.hit[data-id='{some}']").inner_text()
    assert f"{len(shared)} of 8 hits shared" in page.locator(".compare-summary").inner_text()


def test_float32_against_a_compressed_copy(tab, server):
    query = "a healthy breakfast"
    page = tab.goto(
        "/ui/compare?"
        + urlencode(
            {
                "q": query,
                "k": 10,
                "collection": "papers",
                "mode": "dense",
                "collection2": "papers-binary",
                "mode2": "dense",
            }
        )
    )
    binary = api_search(server, "papers-binary", query, "dense", 10)
    assert_same_hits(shown_hits(page, "[data-side=right]"), binary)
    assert "papers-binary · dense" in page.locator("[data-side=right] h2").inner_text()


# ---- similarity, map, collections --------------------------------------------------------------------


def test_heat_map_values_are_the_apis(tab, server):
    texts = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]
    page = tab.goto("/ui/similarity?" + urlencode([("text", t) for t in texts]))
    page.wait_for_selector("td.cell")
    matrix = httpx.post(f"{server}/v1/similarity", json={"texts": texts}, headers=AUTH, timeout=120).json()["matrix"]
    cells = page.locator("td.cell").evaluate_all("cs => cs.map(c => [+c.dataset.row, +c.dataset.col, c.textContent])")
    assert len(cells) == 9
    for row, col, text in cells:
        assert text == f"{matrix[row][col]:.2f}"
    assert matrix[0][1] > 0.7 > 0.2 > matrix[0][2]  # the paraphrase pair is the hot cell
    assert page.locator("td.cell[data-row='0'][data-col='1']").evaluate("c => getComputedStyle(c).backgroundColor") != (
        page.locator("td.cell[data-row='0'][data-col='2']").evaluate("c => getComputedStyle(c).backgroundColor")
    )
    page.fill("#texts", "cats\ndogs")  # Ctrl+Enter compares the edited texts
    page.locator("#texts").press("Control+Enter")
    expect(page.locator("td.cell")).to_have_count(4)
    assert "text=cats" in page.url


def test_map_and_trade_off_chart(tab, server):
    page = tab.goto("/ui/map?collection=papers&color=topic")
    page.wait_for_selector("#map circle.point")
    assert page.locator("#map circle.point").count() == 100
    legend = page.locator("#map .legend li").all_inner_texts()
    assert sorted(legend) == sorted({d["topic"] for d in sample_corpus()})
    report = get(f"{server}/v1/collections/papers/tune").json()
    page.wait_for_selector("#tradeoff circle.point")
    assert page.locator("#tradeoff circle.point").count() == len(report["measured"])
    assert f"{report['chosen']} (chosen)" in page.locator("#tradeoff svg").text_content()
    page.locator("#map circle[data-id='space-01']").hover()
    tooltip = page.locator("#tooltip")
    assert tooltip.is_visible() and "space-01" in tooltip.inner_text() and "topic: space" in tooltip.inner_text()


def test_collections_list_and_collection_page(tab, server):
    page = tab.goto("/")
    page.wait_for_selector("tr[data-collection]")
    listed = get(f"{server}/v1/collections").json()["collections"]
    row = page.locator("tr[data-collection='papers-binary']").inner_text()
    info = next(c for c in listed if c["name"] == "papers-binary")
    assert (
        "100" in row
        and info["compression"] in row
        and info["model"].split("/")[-1] in row
        and str(info["dimension"]) in row
    )
    page.click("text=papers-binary")
    page.wait_for_url("**/ui/collections/papers-binary")
    page.wait_for_selector("table.documents")
    assert page.locator("table.documents tbody tr").count() == 20
    assert "binary" in page.locator(".settings").inner_text()
    page.click("text=Next →")
    page.wait_for_url("**offset=20")
    expect(page.locator("table.documents tbody tr").first).to_have_attribute("data-id", sample_corpus()[20]["id"])
    assert page.locator("h1").inner_text() == "papers-binary"


# ---- safety: escaping, the key prompt, no console errors, loopback only ----------------------------------


def test_document_text_and_metadata_render_as_text(browser, server):
    """A document holding markup shows it as text. The page's CSP is off here: escaping alone must be enough."""
    httpx.post(f"{server}/v1/collections", json={"name": "untrusted"}, headers=AUTH).raise_for_status()
    doc = {"id": "<b>x</b>", "text": XSS_TEXT, "metadata": {"<i>k</i>": "<img src=y onerror='window.__xss = 3'>"}}
    body = {"documents": [doc]}
    httpx.post(f"{server}/v1/collections/untrusted/documents", json=body, headers=AUTH, timeout=120).raise_for_status()
    tab = Page(browser, server, csp=False)
    try:
        pages = {
            search_url(collection="untrusted", q="tomato soup", mode="keyword"): "li.hit .hit-text",
            "/ui/collections/untrusted": "table.documents td.doc-text",
        }
        for path, text_selector in pages.items():
            page = tab.goto(path)
            page.wait_for_selector(text_selector)
            page.wait_for_load_state("networkidle")
            assert page.locator(text_selector).inner_text() == XSS_TEXT
            shown = page.locator("main").inner_text()
            assert "<b>x</b>" in shown and "<i>k</i>: <img src=y onerror='window.__xss = 3'>" in shown
            assert page.evaluate("window.__xss") is None
            assert page.locator("main script, main img, main b, main i").count() == 0
    finally:
        tab.close()
        httpx.delete(f"{server}/v1/collections/untrusted", headers=AUTH, timeout=120)


def test_api_key_prompt(browser, server):
    tab = Page(browser, server, key=None)
    try:
        page = tab.goto(search_url(collection="papers", q="fresh bread", mode="dense", k=3))
        dialog = page.locator("#key-dialog")
        dialog.wait_for(state="visible")
        assert "missing or invalid API key" in page.locator("#key-message").inner_text()  # the API's 401 message
        page.fill("#key-input", "wrong-key")
        page.locator("#key-input").press("Enter")
        expect(page.locator("#key-message")).to_have_text(re.compile("^The key was refused"))
        assert dialog.is_visible()
        page.fill("#key-input", KEY)
        page.click("#key-submit")
        expected = api_search(server, "papers", "fresh bread", "dense", 3)
        assert_same_hits(shown_hits(page), expected)
        assert page.evaluate("sessionStorage.getItem('simvec.apiKey')") == KEY
        assert KEY not in page.url and page.evaluate("document.cookie") == ""
        assert tab.context.cookies() == []
        page.reload()  # the tab keeps its key: no prompt again
        assert_same_hits(shown_hits(page), expected) and not dialog.is_visible()

        other = Page(browser, server, key=None)  # another tab does not inherit it; cancelling shows the 401
        try:
            page = other.goto("/ui")
            page.locator("#key-dialog").wait_for(state="visible")
            page.click("#key-cancel")
            error = page.locator("main .error")
            error.wait_for()
            assert "Error 401" in error.inner_text() and "API key" in error.inner_text()
        finally:
            other.close()
    finally:
        tab.close()


MAIN_PAGES = {
    "collections": "/",
    "collection": "/ui/collections/papers",
    "search": search_url(collection="papers", q="how do plants grow", mode="hybrid", k=6),
    "compare": "/ui/compare?"
    + urlencode(
        {
            "q": "how do plants grow",
            "k": 6,
            "collection": "papers",
            "mode": "dense",
            "collection2": "papers",
            "mode2": "hybrid",
        }
    ),
    "similarity": "/ui/similarity?"
    + urlencode(
        [
            ("text", t)
            for t in (
                "A man is playing a guitar.",
                "Someone plays the guitar.",
                "A woman is slicing an onion.",
                "The stock market fell sharply today.",
            )
        ]
    ),
    "map": "/ui/map?collection=papers&color=topic",
}
READY = {
    "collections": "tr[data-collection]",
    "collection": "table.documents",
    "search": "#results .summary",
    "compare": ".compare-summary",
    "similarity": "td.cell",
    "map": "#tradeoff svg",
}


def test_main_pages_log_no_errors_stay_on_loopback_and_fit_a_narrow_window(browser, server):
    for width, height in ((1280, 800), (420, 860)):
        tab = Page(browser, server, width=width, height=height)
        try:
            for name, path in MAIN_PAGES.items():
                page = tab.goto(path)
                page.wait_for_selector(READY[name], timeout=60_000)
                page.wait_for_load_state("networkidle")
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{name} at {width}px is {overflow}px wider than the window"
            assert tab.errors == []
            assert tab.hosts == {server.split("/")[2]}
        finally:
            tab.close()


def test_screenshots_of_the_main_pages(browser, server, tmp_path):
    """Screenshots at 1280×800 and, for search, a narrow window. SIMVEC_UPDATE_SCREENSHOTS=1 writes them to
    docs/screenshots/ (committed, shown in the README); otherwise to a scratch folder, leaving the tree clean."""
    folder = SCREENSHOTS if os.environ.get("SIMVEC_UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    for name, path, width, height in [(n, p, 1280, 800) for n, p in MAIN_PAGES.items()] + [
        ("search-narrow", MAIN_PAGES["search"], 420, 860)
    ]:
        tab = Page(browser, server, width=width, height=height)
        try:
            page = tab.goto(path)
            page.wait_for_selector(READY[name.removesuffix("-narrow")], timeout=60_000)
            page.wait_for_load_state("networkidle")
            if name == "map":  # show a hover tooltip, on the leftmost point so that it covers little
                leftmost = page.locator("#map circle.point").evaluate_all(
                    "cs => cs.reduce((a, c) => (+c.getAttribute('cx') < +a.getAttribute('cx') ? c : a)).dataset.id"
                )
                page.locator(f"#map circle[data-id='{leftmost}']").hover()
            shots.append(page.screenshot(path=folder / f"{name}.png"))
            assert tab.errors == []
        finally:
            tab.close()
    prompt = Page(browser, server, key=None)  # the key prompt (its 401 is logged by the browser, as it should be)
    try:
        page = prompt.goto(MAIN_PAGES["search"])
        page.locator("#key-dialog").wait_for(state="visible")
        shots.append(page.screenshot(path=folder / "key-prompt.png"))
    finally:
        prompt.close()
    from PIL import Image

    for shot in shots:
        with Image.open(io.BytesIO(shot)) as image:
            assert image.size in ((1280, 800), (420, 860))
            assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50  # a rendered page, not a blank one
