"""The HTML frame of a report and small HTML builders (all text escaped; no external assets)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from string import Template
from typing import Any

PAGE = Template(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
:root { --ink:#1d2330; --muted:#5f6b7a; --line:#dde1e7; --bg:#f4f5f7; --accent:#2457c5;
  --bad:#c62828; --good:#1b7a3a; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); line-height:1.5; font-size:15px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background:#161b26; color:#fff; padding:18px 32px; }
header h1 { margin:0; font-size:22px; }
header p { margin:4px 0 0; color:#c5cbd6; font-size:13px; }
nav { background:#fff; border-bottom:1px solid var(--line); padding:8px 32px; font-size:13.5px; position:sticky;
  top:0; z-index:2; }
nav a { color:var(--accent); text-decoration:none; margin-right:16px; }
main { max-width:1280px; margin:0 auto; padding:20px 32px 48px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:20px 24px; margin-bottom:20px; }
h2 { font-size:19px; margin:0 0 12px; }
h3 { font-size:15.5px; margin:18px 0 8px; }
.note { color:var(--muted); font-size:13.5px; }
.headline { display:flex; flex-wrap:wrap; gap:14px; margin-top:14px; }
.stat { background:#f3f6fc; border:1px solid #d8e1f3; border-radius:8px; padding:10px 16px; min-width:150px; }
.stat b { display:block; font-size:22px; }
.stat span { color:var(--muted); font-size:12.5px; }
table { border-collapse:collapse; font-size:13.5px; font-variant-numeric:tabular-nums; margin:6px 0 10px; }
th, td { padding:5px 8px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th { background:#f3f5f8; font-weight:600; white-space:normal; vertical-align:bottom; }
th:first-child, td:first-child { text-align:left; }
.table-wrap { overflow-x:auto; }
table.confusion td.hit { background:#e7f5ec; font-weight:700; }
table.confusion td.miss { background:#fdecea; }
img { max-width:100%; border-radius:6px; border:1px solid var(--line); display:block; cursor:zoom-in; }
#lightbox { max-width:96vw; max-height:96vh; padding:0; border:0; border-radius:8px; background:#161b26;
  overflow:auto; }
#lightbox::backdrop { background:rgba(10, 14, 22, .8); }
#lightbox figure { margin:0; padding:10px; }
#lightbox img { max-width:none; cursor:zoom-out; image-rendering:pixelated; }
#lightbox.fit img { max-width:calc(96vw - 20px); max-height:calc(96vh - 60px); cursor:zoom-in; }
#lightbox figcaption { color:#c5cbd6; }
#lightbox button { position:sticky; float:right; top:6px; margin:6px 6px 0 0; font-size:22px; line-height:1;
  padding:2px 10px; border:0; border-radius:6px; background:#fff; cursor:pointer; }
.headline.cracks .stat { background:#fff6e5; border-color:#f1d9a6; }
.case-headline { display:inline-block; margin-top:4px; color:var(--ink); }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(112px, 1fr)); gap:8px; }
.grid figure { margin:0; }
.grid img { width:100%; image-rendering:pixelated; }
figcaption { font-size:12px; color:var(--muted); text-align:center; }
.case { display:grid; grid-template-columns:180px repeat(4, minmax(0, 1fr)); gap:10px; align-items:center;
  padding:10px 0; border-bottom:1px solid var(--line); }
.case img { width:100%; image-rendering:pixelated; }
.case .label { font-size:13px; }
.case .label b { display:block; word-break:break-all; }
.tag { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600; }
.tag.cracked { background:#fdecea; color:var(--bad); }
.tag.uncracked { background:#e7f5ec; color:var(--good); }
.tag.error { background:#fff3cd; color:#8a6100; }
.case-head { font-size:12px; color:var(--muted); text-align:center; }
</style>
</head>
<body>
<header><h1>$title</h1><p>$subtitle</p></header>
<nav>$nav</nav>
<main>
$body
</main>
<dialog id="lightbox" aria-label="full-size image"><button type="button" aria-label="close">&times;</button>
<figure><img alt=""><figcaption></figcaption></figure></dialog>
<script>
// Click an image to see it full size (click it again to fit it to the window; Escape or x closes).
(function () {
  var box = document.getElementById("lightbox");
  var big = box.querySelector("img");
  box.querySelector("button").addEventListener("click", function () { box.close(); });
  big.addEventListener("click", function () { box.classList.toggle("fit"); });
  box.addEventListener("click", function (e) { if (e.target === box) box.close(); });
  document.querySelectorAll("main img").forEach(function (im) {
    im.title = "click to open full size";
    im.addEventListener("click", function () {
      big.src = im.src;
      big.alt = im.alt;
      box.querySelector("figcaption").textContent = im.alt;
      box.classList.remove("fit");
      box.showModal();
    });
  });
})();
</script>
</body>
</html>
"""
)


def esc(value: Any) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: floats rounded, None as a dash, everything escaped."""
    if value is None:
        return "&ndash;"
    if isinstance(value, bool):
        return esc(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "&ndash;"
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return esc(", ".join(str(v) for v in value))
    return esc(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, cls: str = "", digits: int = 3) -> str:
    """An HTML table; cells are formatted with :func:`fmt` unless already marked up via ``Raw``."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f"<td>{c.html if isinstance(c, Raw) else fmt(c, digits)}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    cls_attr = f' class="{esc(cls)}"' if cls else ""
    return (
        f'<div class="table-wrap"><table{cls_attr}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


class Raw:
    """Marked-up HTML that :func:`table` inserts as is."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text


def img(src: str, alt: str, *, width: int | None = None) -> str:
    width_attr = f' style="max-width:{int(width)}px"' if width else ""
    return f'<img src="{esc(src)}" alt="{esc(alt)}"{width_attr}>'


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def page(*, title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The full page from (anchor, title, body html) sections."""
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in sections)
    body = "\n".join(section(a, t, b) for a, t, b in sections)
    return PAGE.substitute(title=esc(title), subtitle=esc(subtitle), nav=nav, body=body)
