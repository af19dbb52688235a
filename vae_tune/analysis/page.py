"""The report's index.html: sections of captioned pictures, self-contained apart from the image files."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

# Image grids of small models (16-64px tiles) are enlarged in the page, without smoothing,
# until a tile is about this many CSS pixels; the files themselves stay at the model's size.
DISPLAY_TILE = 96
CAPTION_WIDTH = 320  # the narrowest a figure gets, so its caption stays readable
# `--top` of `vae-tune report`: the best trials by objective that the report draws, labels in its charts
# and checks against the edges of the search. Here, not in report.py, so the command line reads it
# without loading Ray.
TRIALS_SHOWN = 3

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; padding: 0 16px; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 2em; }
.pictures { display: flex; flex-wrap: wrap; gap: 8px 32px; align-items: flex-start; }
figure { margin: 1em 0 1.5em; max-width: 100%; } figcaption { color: #444; margin-top: 6px; font-size: 0.95em; }
img { max-width: 100%; height: auto; } img.tiles { image-rendering: pixelated; }
.warning { background: #fff3cd; border-left: 4px solid #e0a800; padding: 8px 12px; margin: 6px 0; }
.broken { background: #f8d7da; border-left: 4px solid #c00; padding: 8px 12px; }
table { border-collapse: collapse; font-size: 0.8em; }
td, th { padding: 3px 6px; border-bottom: 1px solid #eee; white-space: nowrap; }
th { background: #f5f5f5; position: sticky; top: 0; } tr.pareto td { background: #eef6ff; }
.scroll { max-height: 32em; overflow: auto; }
"""

# Marks the page when any picture fails to load: a person sees a red banner, and a
# headless browser (analysis/screenshot_report.py, the tests) can read data-broken-images
# (and data-page-height, to capture the whole page).
CHECK_IMAGES = """
window.addEventListener("load", () => {
  const broken = [...document.images].filter((image) => !image.complete || image.naturalWidth === 0);
  document.body.dataset.brokenImages = broken.length;
  document.body.dataset.images = document.images.length;
  document.body.dataset.pageHeight = document.documentElement.scrollHeight;
  if (broken.length) {
    const banner = document.createElement("p");
    banner.className = "broken";
    banner.textContent = broken.length + " picture(s) failed to load: " + broken.map((i) => i.getAttribute("src")).join(", ");
    document.body.prepend(banner);
  }
});
"""


@dataclass
class Picture:
    path: Path  # relative to the report folder
    caption: str
    tile_size: int | None = None  # the image grid's tile side, to enlarge small tiles; None for charts


@dataclass
class Section:
    title: str
    notes: list[str] = field(default_factory=list)  # plain-text paragraphs
    warnings: list[str] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    html: str = ""  # trusted HTML built by the report (the results table)
    anchor: str = ""


def write_page(out: Path, title: str, sections: list[Section]) -> Path:
    body = [f"<h1>{html.escape(title)}</h1>"]
    contents = [f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections if s.anchor]
    if contents:
        body.append("<p>" + " · ".join(contents) + "</p>")
    for section in sections:
        anchor = f' id="{section.anchor}"' if section.anchor else ""
        body.append(f"<h2{anchor}>{html.escape(section.title)}</h2>")
        body += [f'<p class="warning">{html.escape(text)}</p>' for text in section.warnings]
        body += [f"<p>{html.escape(text)}</p>" for text in section.notes]
        body.append(section.html)
        if section.pictures:
            body.append('<div class="pictures">' + "".join(_figure(out, p) for p in section.pictures) + "</div>")
    page = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style><script>{CHECK_IMAGES}</script></head>\n<body>\n" + "\n".join(body)
            + "\n</body></html>\n")
    path = out / "index.html"
    path.write_text(page)
    return path


def _figure(out: Path, picture: Picture) -> str:
    source = html.escape(picture.path.as_posix())
    with Image.open(out / picture.path) as image:
        width = image.width
    css_class = ""
    if picture.tile_size:
        width *= max(1, DISPLAY_TILE // picture.tile_size)
        css_class = ' class="tiles"'
    # The figure is as wide as its picture (captions of narrow grids wrap under them), but never too
    # narrow to read, so small grids sit side by side.
    return (f'<figure style="width: {max(width, CAPTION_WIDTH)}px"><a href="{source}"><img src="{source}" width="{width}"{css_class} '
            f'alt="{html.escape(picture.caption.split(".")[0])}"></a>'
            f"<figcaption>{html.escape(picture.caption)}</figcaption></figure>")
