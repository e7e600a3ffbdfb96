"""What Label Studio's web app accepts in a saved view, read from the frontend bundle shipped in
the installed label-studio package (``web/dist/apps/labelstudio/*.js``), not from a list typed by
hand: the operator enumeration of the Data Manager's ``TabFilter`` model (built from the operator
lists per column type), the filter types and the conjunctions.

In 1.23.2's bundle: ``ll=Array.from(new Set([].concat(...Object.values(s).map(e=>e.map(e=>e.key)))))``,
``ol=u.gK.enumeration(ll)``, ``model("TabFilter",{..., operator:u.gK.maybeNull(ol), ...,
child_filter: ...})``, where ``s`` is a module object ``n.d(s,{Number:()=>Ve, ...})`` and each
``Ve=[{key:"equal",...}, ...]`` is one type's operator list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sync import server

IDENT = r"[A-Za-z_$][\w$]*"


@dataclass(frozen=True)
class WebApp:
    operators: frozenset[str]
    types: frozenset[str]
    conjunctions: frozenset[str]
    child_filter: bool


def bundle_text() -> str:
    """The Data Manager chunk of the installed web app (the file defining the TabFilter model)."""
    root = next(server.default_venv().glob("lib/python*/site-packages/web/dist/apps/labelstudio"))
    for path in sorted(Path(root).glob("*.js")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if 'model("TabFilter",' in text:
            return text
    raise AssertionError(f"no bundle in {root} defines the TabFilter model")


def _array_at(text: str, start: int) -> str:
    """The JS array literal starting at text[start] == '[' (brackets outside strings balanced)."""
    depth, quote, index = 0, "", start
    while True:
        char = text[index]
        if quote:
            quote = "" if char == quote and text[index - 1] != "\\" else quote
        elif char in "\"'`":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
        index += 1


def _operator_keys(text: str, name: str) -> set[str]:
    """The keys of operator list ``name``: ``name=[{key:..}, ..]``, or ``name=[...F(..)]`` where
    ``F=e=>[{key:..}, ..]`` (the date lists)."""
    found = re.search(rf"(?<![\w$]){re.escape(name)}=(\[\{{key:|\[\.\.\.({IDENT})\()", text)
    assert found, f"operator list {name} not found in the bundle"
    if found.group(2):
        found = re.search(rf"(?<![\w$]){re.escape(found.group(2))}=\w+=>(\[\{{key:)", text)
        assert found, f"the function making operator list {name} not found in the bundle"
    array = _array_at(text, found.start(1))
    return set(re.findall(r'\{key:"([a-z_]+)",label:', array))


@cache
def webapp() -> WebApp:
    """Parse the bundle; fails loudly when its structure is not the one described above."""
    text = bundle_text()
    tab_filter = re.search(r'model\("TabFilter",\{filter:[^,]+,operator:[\w$.]+\.maybeNull\((' + IDENT + r")\)", text)
    assert tab_filter, "TabFilter.operator not found"
    enum = re.search(rf"(?<![\w$]){re.escape(tab_filter.group(1))}=[\w$.]+\.enumeration\(({IDENT})\)", text)
    assert enum, "the operator enumeration not found"
    keys = re.search(rf"(?<![\w$]){re.escape(enum.group(1))}="
                     rf"Array\.from\(new Set\(\[\]\.concat\(\.\.\.Object\.values\(({IDENT})\)", text)
    assert keys, "the operator keys not found"
    per_type = re.search(rf"\.d\({re.escape(keys.group(1))},\{{([^}}]*Number:\(\)=>[^}}]*)\}}\)", text)
    assert per_type, "the operator lists per type not found"
    lists = set(re.findall(rf":\(\)=>({IDENT})", per_type.group(1)))
    operators = frozenset(key for name in lists for key in _operator_keys(text, name))
    filter_type = re.search(rf'model\("TabFilterType",\{{[^}}]*type:({IDENT})', text)
    assert filter_type, "TabFilterType.type not found"
    types = re.search(rf"(?<![\w$]){re.escape(filter_type.group(1))}=[\w$.]+\.enumeration\((\[[^\]]*\])\)", text)
    assert types, "the filter type enumeration not found"
    conjunction = re.search(r'conjunction:[\w$.]+\.enumeration\((\[[^\]]*\])\)', text) or re.search(
        r'enumeration\((\["and","or"\])\)', text)
    assert conjunction, "the conjunction enumeration not found"
    return WebApp(
        operators=operators,
        types=frozenset(re.findall(r'"(\w+)"', types.group(1))),
        conjunctions=frozenset(re.findall(r'"(\w+)"', conjunction.group(1))),
        child_filter="child_filter:" in re.search(r'model\("TabFilter",\{[^}]*\}', text).group(0),
    )


def problems(filters: dict | None) -> list[str]:
    """What in a saved view's filters the installed web app would not accept."""
    accepted = webapp()
    if not filters:
        return []
    found = []
    if filters.get("conjunction") not in accepted.conjunctions:
        found.append(f"conjunction {filters.get('conjunction')!r}")
    for entry in filters.get("items") or []:
        depth = 0
        while isinstance(entry, dict):
            if entry.get("operator") not in accepted.operators:
                found.append(f"operator {entry.get('operator')!r}")
            if entry.get("type") not in accepted.types:
                found.append(f"type {entry.get('type')!r}")
            if depth and not accepted.child_filter:
                found.append("child_filter")
            entry, depth = entry.get("child_filter"), depth + 1
    return found
