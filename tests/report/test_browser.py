"""The report in headless Chromium (Debian's package, driven by Playwright): loads offline, no errors,
every section visible, plots interactive, hostile names inert. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from report_helpers import HOSTILE_SAMPLE

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SECTIONS = [
    "overview",
    "samples",
    "similarity",
    "panels",
    "statistics",
    "de",
    "methods",
    "provenance",
]
LOCAL = ("file:", "data:", "blob:", "about:")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Page:
    """A page with every console message, page error, dialog and non-local request recorded."""

    def __init__(self, browser, path: Path, *, width: int = 1400, height: int = 900) -> None:
        self.ctx = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.ctx.new_page()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.remote: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.console.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.route("**/*", self._route)
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("body[data-plots-ready]", timeout=60_000)

    def _dialog(self, d) -> None:
        self.dialogs.append(d.message)
        d.dismiss()

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(LOCAL):
            route.continue_()
        else:
            self.remote.append(url)
            route.abort()

    def shot(self, name: str, *, full: bool = False) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        out = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(out), full_page=full)
        return out

    def close(self) -> None:
        self.ctx.close()


@pytest.fixture(scope="module")
def page(browser, report_dir: Path):
    p = Page(browser, report_dir / "report.html")
    yield p
    p.close()


def test_loads_offline_without_errors(page: Page):
    assert page.errors == []
    assert page.console == []
    assert page.remote == []
    assert page.dialogs == []


def test_first_screen_shows_the_verdict(page: Page):
    page.page.evaluate("window.scrollTo(0, 0)")
    verdict = page.page.locator("#verdict")
    assert verdict.is_visible()
    box = verdict.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 900, "the verdict is on the first screen"
    assert page.page.locator(".verdict-headline").inner_text().strip()
    page.shot("report-first-screen")
    page.shot("report-full", full=True)


@pytest.mark.parametrize("section", SECTIONS)
def test_section_visible(page: Page, section: str):
    page.page.click(f'.toc a[href="#{section}"]')
    loc = page.page.locator(f"#{section}")
    loc.scroll_into_view_if_needed()
    assert loc.is_visible()
    assert loc.locator("h1, h2").first.is_visible()
    page.page.wait_for_timeout(150)
    page.shot(f"report-{section}")


def test_every_plot_drawn(page: Page):
    n_div = page.page.locator("div.plot[data-fig]").count()
    assert n_div >= 6
    assert page.page.locator("div.plot[data-drawn=true] .main-svg").count() >= n_div


def _hover_first_point(page: Page, fig: str) -> str:
    loc = page.page.locator(f"#{fig}")
    loc.scroll_into_view_if_needed()
    point = loc.locator("g.points path.point").first
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    assert box is not None
    page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.page.wait_for_selector(f"#{fig} .hoverlayer .hovertext", timeout=5_000)
    return loc.locator(".hoverlayer .hovertext").first.text_content() or ""


def test_pca_hover_shows_sample(page: Page, report_parts):
    adata = report_parts[0]
    text = _hover_first_point(page, "fig-pca")
    assert any(str(s) in text for s in adata.obs_names), text
    page.shot("report-pca-hover")


def test_volcano_hover_shows_gene(page: Page, report_dir: Path):
    # the first trace (not significant genes, > 1,000 in the example) is embedded packed: shared strings
    # and typed arrays that the page decodes before drawing
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    block = html.split('id="mscseq-figures">', 1)[1].split("</script>", 1)[0]
    first = json.loads(block)["fig-volcano-0"]["data"][0]
    assert set(first["x"]) == {"ref"} and set(first["text"]) == {"ref"}
    text = _hover_first_point(page, "fig-volcano-0")
    assert "log2 FC" in text and "padj" in text
    assert re.search(r"SIM\d+ \(SIMG\d+\)", text), text  # label and ID from the shared string table


def test_pca_colour_selector(page: Page):
    sel = page.page.locator("select.pca-color")
    options = sel.locator("option").all_inner_texts()
    assert "cohort" in options
    sel.select_option(label="cohort")
    legend = page.page.locator("#fig-pca .legend").text_content() or ""
    assert "cohort" in legend and "A" in legend and "B" in legend


def test_table_search_and_sort(page: Page):
    page.page.locator("#samples").scroll_into_view_if_needed()
    search = page.page.locator('input.table-search[data-table="samples-table"]')
    search.fill("REF")
    rows = page.page.locator("#samples-table tbody tr:not([hidden])")
    assert rows.count() == 3
    search.fill("")
    header = page.page.locator("#samples-table thead th", has_text="library size")
    header.click()
    header.click()  # descending
    first = page.page.locator("#samples-table tbody tr").first.locator("td").nth(0).inner_text()
    assert first  # a sample name
    assert header.get_attribute("aria-sort") == "descending"


def test_hostile_names_never_run(browser, hostile_dir: Path, tmp_path: Path):
    path = tmp_path / "hostile.html"
    shutil.copy(hostile_dir / "report.html", path)
    p = Page(browser, path)
    try:
        for section in SECTIONS:
            p.page.locator(f"#{section}").scroll_into_view_if_needed()
        text = _hover_first_point(p, "fig-pca")
        assert text
        p.page.mouse.move(10, 10)
        assert (
            p.page.get_by_text(HOSTILE_SAMPLE).first.is_visible()
            or p.page.get_by_text(HOSTILE_SAMPLE).count() > 0
        )
        p.page.wait_for_timeout(300)
        assert p.dialogs == []
        assert p.errors == []
        assert p.remote == []
        assert p.page.locator("main img, main iframe").count() == 0
        p.shot("report-hostile-names", full=True)
    finally:
        p.close()


def test_narrow_screen_and_print(browser, report_dir: Path):
    p = Page(browser, report_dir / "report.html", width=800, height=1000)
    try:
        assert p.page.locator("#verdict").is_visible()
        p.shot("report-narrow")
        p.page.emulate_media(media="print")
        assert not p.page.locator("nav.toc").is_visible()
        p.shot("report-print", full=True)
        assert p.errors == []
    finally:
        p.close()
