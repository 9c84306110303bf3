"""A small document model rendered twice, to Markdown and to HTML, so the two never disagree."""

from __future__ import annotations

import base64
import html
import re

from asl_edge.runtime.fsutil import printable


def md_table(head: list[str], rows: list[list[str]]) -> str:
    # printable(): a newline or ANSI escape in a file name must not forge table rows.
    lines = ["| " + " | ".join(md_text(printable(h)) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md_text(printable(c).replace("|", "/")) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def md_text(text: str) -> str:
    """``text`` for Markdown with HTML escaped outside code spans: a results file's ``<script>`` or
    ``<img onerror=...>`` must show as text wherever REPORT.md is rendered (inside a code span it
    already does, and an entity there would show literally)."""
    parts = re.split(r"(`[^`]*`)", str(text))
    return "".join(p if p.startswith("`") and p.endswith("`") and len(p) > 1 else html.escape(p, quote=False)
                   for p in parts)


# -- the document ---------------------------------------------------------------------------------
class Document:
    """Blocks rendered twice, to Markdown and to HTML, so the two never disagree."""

    def __init__(self):
        self.blocks: list[tuple] = []

    def h(self, level: int, text: str):
        self.blocks.append(("h", level, text))

    def p(self, text: str):
        self.blocks.append(("p", text))

    def table(self, head: list[str], rows: list[list[str]]):
        self.blocks.append(("table", head, rows))

    def img(self, name: str, alt: str, png: bytes):
        self.blocks.append(("img", name, alt, png))

    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("#" * b[1] + " " + md_text(b[2]))
            elif b[0] == "p":
                out.append(md_text(b[1]))
            elif b[0] == "table":
                out.append(md_table(b[1], b[2]))
            else:
                out.append(f"![{md_text(b[2])}]({b[1]})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        style = ("body{font-family:system-ui,sans-serif;max-width:1150px;margin:auto;padding:0 1em}"
                 "table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;"
                 "padding:3px 6px;text-align:left}th{background:#f3f3f3}img{max-width:100%}"
                 "code{background:#f3f3f3;padding:0 3px}")
        out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
               f"<style>{style}</style></head><body>"]
        for b in self.blocks:
            if b[0] == "h":
                out.append(f"<h{b[1]}>{inline(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                out.append(f"<p>{inline(b[1])}</p>")
            elif b[0] == "table":
                out.append("<table><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in b[1]) + "</tr>"
                           + "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in b[2])
                           + "</table>")
            else:
                out.append(f"<p><img alt='{html.escape(str(b[2]))}' src='data:image/png;base64,"
                           f"{base64.b64encode(b[3]).decode()}'></p>")
        return "\n".join(out) + "\n</body></html>\n"


def inline(text: str) -> str:
    """The few Markdown inline forms the report uses (bold, code, links), as HTML."""
    # quote=True: with quote=False a results file's fields could close the href and add
    # attributes such as onmouseover to a link.
    text = html.escape(str(text), quote=True)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    text = re.sub(r"\*(.+?)\*", r"<i>\1</i>", text)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', text)
