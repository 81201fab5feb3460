"""The HTML leaderboard as a person sees it: rendered by headless Chromium (skipped without it).

A small probe script is added to a copy of the page; after load it records, into the DOM, each
leaderboard table's rows as rendered text and each plot's decoded natural size.  ``--dump-dom``
returns that DOM; ``--screenshot`` must not be a blank page.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
PROBE = """<script>
window.addEventListener("load", () => {
  const box = (el) => el.getBoundingClientRect();
  const imgs = [...document.images].map((i) => ({
    w: i.naturalWidth, h: i.naturalHeight, shown: Math.round(box(i).width), done: i.complete,
  }));
  const tables = [...document.querySelectorAll("table.leaderboard")].map((t) => ({
    task: t.dataset.task,
    visible: box(t).height > 0,
    header: [...t.tHead.rows[0].cells].map((c) => c.innerText.trim()),
    rows: [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.innerText.trim())),
  }));
  const sections = [...document.querySelectorAll("h2")].map((h) => h.innerText.trim());
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({imgs, tables, sections});
  document.body.appendChild(out);
});
</script>"""


def _browser() -> str | None:
    return next((p for b in BROWSERS if (p := shutil.which(b))), None)


pytestmark = pytest.mark.skipif(_browser() is None, reason="no headless Chromium installed")


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [_browser(), *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def test_page_renders_tables_and_plots(standard_report, tmp_path):
    _, _, page = standard_report
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = _chromium(tmp_path, "--window-size=1280,2000", "--dump-dom", probe_page.as_uri())
    m = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"probe did not run: {proc.stderr[-1500:]}"
    seen = json.loads(m.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))

    assert seen["sections"][0] == "smollm2-135m · data sample · profile quick · device cpu"
    assert seen["sections"][-1] == "Per-layer initialization error"
    tables = {t["task"]: t for t in seen["tables"]}
    assert set(tables) == {"wikitext2", "gsm8k"}
    wiki = tables["wikitext2"]
    assert wiki["visible"]
    assert wiki["header"] == ["method", "2-bit", "Δ qlora", "4-bit", "Δ qlora"]
    assert [r[0] for r in wiki["rows"]] == [
        "qlora",
        "loftq",
        "cloq",
        "lora16 (full-precision base, reference)",
    ]
    assert wiki["rows"][2] == [
        "cloq",
        "24.25 ± 0.25 (n=3) ★",
        "-8.00",
        "15.25 ± 0.25 (n=3) ★",
        "-5.00",
    ]
    assert [r[0] for r in tables["gsm8k"]["rows"]] == ["qlora", "cloq"]

    assert len(seen["imgs"]) == 6
    for img in seen["imgs"]:
        assert img["done"] and img["w"] > 200 and img["h"] > 200, img
        assert img["shown"] > 200, img  # laid out at a readable size


def test_screenshot_is_not_blank(standard_report, tmp_path):
    from matplotlib import image

    _, _, page = standard_report
    html = tmp_path / "leaderboard.html"
    html.write_text(page, encoding="utf-8")
    shot = tmp_path / "shot.png"
    proc = _chromium(tmp_path, "--window-size=1280,1800", f"--screenshot={shot}", html.as_uri())
    assert shot.is_file(), proc.stderr[-1500:]
    pixels = image.imread(str(shot))[:, :, :3]
    assert pixels.shape[:2] == (1800, 1280)
    inked = (pixels < 0.9).any(axis=2).mean()  # share of pixels that are not near-white
    assert 0.02 < inked < 0.6
    assert pixels.std() > 0.05
    # plots are colourful: the matplotlib default blue / orange / green appear somewhere
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    assert ((b > 0.55) & (r < 0.35) & (g > 0.35) & (g < 0.6)).sum() > 200  # tab:blue
