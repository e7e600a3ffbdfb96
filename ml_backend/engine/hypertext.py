"""Where a character of a HyperText's plain text sits in its HTML, for span regions.

Why: the model reads a ``HyperText`` as plain text (``labeling.InputField.read``: the HTML's text
pieces joined by spaces, whitespace collapsed), and spans are placed in that text. Label Studio
keeps a HyperText region as an XPath to the text node where it starts and ends plus character
offsets inside those nodes (``start``, ``end``, ``startOffset``, ``endOffset``). ``text_map``
rebuilds the plain text exactly as ``read`` does, remembering for each character its text node
and offset, so a span's offsets convert to that form.

XPaths are written as Label Studio writes them, from the HyperText's root: one ``tag[n]`` step per
element (n counts the same-named siblings from 1) and ``text()[n]`` for the text node (n counts
its text-node siblings). They follow the HTML as written: markup a browser rebuilds differently
(a table without ``tbody``, an unclosed ``p``) can shift them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())

Origin = tuple[str, int]


@dataclass
class _Element:
    path: str
    children: Counter[str] = field(default_factory=Counter)


class _Mapper(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[_Element] = [_Element("")]
        self.parts: list[tuple[str, str, int]] = []  # (data, text node xpath, offset of data in the node)
        self.node: tuple[str, int] | None = None  # the text node being read and its length so far

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.node = None
        parent = self.stack[-1]
        parent.children[tag] += 1
        if tag not in VOID:
            self.stack.append(_Element(f"{parent.path}/{tag}[{parent.children[tag]}]"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.node = None
        self.stack[-1].children[tag] += 1

    def handle_endtag(self, tag: str) -> None:
        self.node = None
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].path.rsplit("/", 1)[-1].startswith(f"{tag}["):
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if self.node is None:
            parent = self.stack[-1]
            parent.children["text()"] += 1
            self.node = (f"{parent.path}/text()[{parent.children['text()']}]", 0)
        path, length = self.node
        self.parts.append((data, path, length))
        self.node = (path, length + len(data))


def text_map(html: str) -> tuple[str, list[Origin | None]]:
    """The plain text ``InputField.read`` makes of ``html`` and, per character, its (text node
    XPath, offset in the node); None for a space that joins two pieces."""
    mapper = _Mapper()
    mapper.feed(html)
    mapper.close()
    joined: list[tuple[str, Origin | None]] = []
    for index, (data, path, offset) in enumerate(mapper.parts):
        if index:
            joined.append((" ", None))
        joined.extend((char, (path, offset + at)) for at, char in enumerate(data))
    text: list[str] = []
    origins: list[Origin | None] = []
    pending_space = False
    for char, origin in joined:
        if char.isspace():
            pending_space = bool(text)
            continue
        if pending_space:
            text.append(" ")
            origins.append(None)
            pending_space = False
        text.append(char)
        origins.append(origin)
    return "".join(text), origins


def region(origins: list[Origin | None], start: int, end: int) -> dict[str, object] | None:
    """The HyperText region position of the plain-text span [start, end); None when unmapped."""
    first, last = origins[start] if start < len(origins) else None, origins[end - 1] if end else None
    if first is None or last is None:
        return None
    return {"start": first[0], "end": last[0], "startOffset": first[1], "endOffset": last[1] + 1}
