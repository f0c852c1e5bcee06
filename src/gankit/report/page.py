"""The report's HTML: one file, everything inline, a Content-Security-Policy that forbids any fetch.

The policy allows only inline styles, inline script and data: images, so a page that tried to load anything
from the network (or from disk) would be blocked by the browser and say so in its console.
"""
from __future__ import annotations

import html
import json
from typing import Dict, List, Sequence, Tuple

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans KR",sans-serif;margin:0;color:#222;background:#f6f6f4}
main{max-width:1360px;margin:0 auto;padding:18px 24px 40px}
h1{font-size:22px;margin:4px 0 2px} h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.sub{color:#555;margin:0 0 10px} .note{color:#666;font-size:12.5px}
table.kv{border-collapse:collapse;font-size:13px} table.kv td{padding:2px 12px 2px 0;vertical-align:top}
table.kv td:first-child{color:#555;white-space:nowrap} code{font-size:12.5px;background:#eee;padding:0 3px;border-radius:3px}
.grid{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 10px}
.card h3{font-size:13.5px;margin:0 0 6px;font-weight:600}
svg.chart{display:block;max-width:100%;height:auto} svg .ct{font-size:13px;font-weight:600} svg .tk{font-size:10.5px;fill:#555}
svg .lg{font-size:11px} svg .mn{font-size:10px;font-weight:700}
img.px{image-rendering:pixelated} ol.events{padding-left:22px;margin:6px 0} ol.events li{margin:3px 0}
.kind{font-weight:600} .kind.remedy{color:#2ca02c} .kind.remedy_result{color:#666} .kind.finding{color:#c62828}
#film-step{font-weight:600} input[type=range]{width:min(640px,90%)}
"""

SCRIPT = """
(function(){
  var data = document.getElementById('film-data');
  if (!data) return;
  var frames = JSON.parse(data.textContent), img = document.getElementById('film-img');
  var slider = document.getElementById('film-slider'), label = document.getElementById('film-step');
  function show(i){ img.src = frames[i][1]; label.textContent = 'step ' + frames[i][0] + ' (' + (i + 1) + ' of ' + frames.length + ')'; }
  slider.addEventListener('input', function(){ show(+slider.value); });
  show(+slider.value);
})();
"""


def esc(v: object) -> str:
    return html.escape(str(v))


def kv_table(rows: Sequence[Tuple[str, str]]) -> str:
    """Two-column table; values are HTML already escaped by the caller."""
    return '<table class="kv">' + "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"


def card(title: str, body: str, cls: str = "") -> str:
    return f'<div class="card {cls}"><h3>{esc(title)}</h3>{body}</div>'


def image(uri: str, alt: str, width: int = 0, pixelated: bool = False) -> str:
    w = f' width="{width}"' if width else ""
    cls = ' class="px"' if pixelated else ""
    return f'<img src="{uri}" alt="{esc(alt)}"{w}{cls}>'


def filmstrip(frames: List[Tuple[int, str]], display_width: int) -> str:
    """A slider over the frames; the last frame shows first."""
    if not frames:
        return '<p class="note">No sample pictures were saved (samples/step-*.png).</p>'
    last = len(frames) - 1
    payload = json.dumps([[s, u] for s, u in frames]).replace("</", "<\\/")
    return (f'<div id="film"><img id="film-img" class="px" alt="fixed-noise samples" width="{display_width}" '
            f'src="{frames[last][1]}"><br>'
            f'<input id="film-slider" type="range" min="0" max="{last}" value="{last}" step="1" '
            f'aria-label="step"> <span id="film-step">step {frames[last][0]}</span></div>'
            f'<script type="application/json" id="film-data">{payload}</script>')


def events_list(events: List[Dict]) -> str:
    if not events:
        return '<p class="note">The diagnoser reported nothing.</p>'
    items = []
    for i, e in enumerate(events, 1):
        kind = str(e.get("kind", ""))
        cls = kind if kind in ("remedy", "remedy_result") else "finding"
        items.append(f'<li value="{i}">step {esc(e.get("step", "?"))} · <span class="kind {cls}">{esc(kind)}</span>: '
                     f'{esc(e.get("message", ""))}</li>')
    return '<ol class="events">' + "".join(items) + "</ol>"


def page(title: str, subtitle: str, sections: Sequence[Tuple[str, str]]) -> str:
    """The whole document: sections are (heading, HTML body)."""
    body = "".join(f'<section><h2>{esc(h)}</h2>{b}</section>' for h, b in sections)
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
            f'<body><main><h1>{esc(title)}</h1><p class="sub">{subtitle}</p>{body}</main>'
            f"<script>{SCRIPT}</script></body></html>\n")
