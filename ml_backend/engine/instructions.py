"""Guarding the locked parts of a prompt against the editable text around them.

An agent's instruction (and a custom template's own text) is written by a project admin and
inserted as data before the locked parts: the label options, the output format and the task
input. The checks here refuse text that tries to override those parts (ignore the rules, answer
in prose, add a label, imitate a locked heading), after NFKC normalisation, and refuse outright
invisible format characters, which hide words from the checks and from a reader. They are a
blocklist and cannot catch every rephrasing: the precedence note the prompt ends with, the JSON
answer format and post-processing (only the config's labels are accepted) hold when they miss.
"""

from __future__ import annotations

import re
import unicodedata

from ml_backend.engine.labeling import LabelSpec

LOCKED = "the label options, the output format instruction and the task input are locked"
MAX_INSTRUCTIONS_CHARS = 8_000


class PromptTemplateError(ValueError):
    """A template or instruction cannot be used; the message says which part and why."""


# Phrases refused in an instruction (and in a custom template's own text) because they would
# override a locked part. They catch the obvious attempts; the schema and post-processing still
# accept only the config's labels in the locked format.
_JINJA = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_OVERRIDE = tuple(
    re.compile(pattern, re.I)
    for pattern in (
        r"\b(?:ignore|disregard|forget|override|overrule|bypass)\s+(?:all\s+|any\s+)?(?:of\s+)?"
        r"(?:the\s+|these\s+|those\s+|your\s+)?(?:(?:previous|prior|above|below|following|other|earlier|later|"
        r"system|remaining|given|locked|original|output|response|answer)\s+)?"
        r"(?:instructions?|rules?|directions?|prompt|format|constraints?|labels?|options?|"
        r"everything\s+(?:above|below))\b",
        r"\b(?:do\s+not|don'?t|never)\s+(?:follow|obey|apply)\s+(?:the\s+|these\s+|any\s+)?(?:\w+\s+)?"
        r"(?:instructions?|rules?|format)\b",
    )
)
_FORMAT = tuple(
    re.compile(pattern, re.I)
    for pattern in (
        r"\b(?:json|yaml|yml|xml|csv|tsv|markdown)\b",
        r"\b(?:output|response|answer|reply|return)\s+(?:format|schema|structure|template)\b",
        r"\bformat\s+(?:your|the|each)\s+(?:answer|response|output|reply)",
        r"\b(?:answer|respond|reply|output|return|write|give)\w*\s+(?:only\s+|just\s+)?(?:with|in|as|using)\s+"
        r"(?:an?\s+|one\s+|the\s+)?(?:(?:plain|free|single|short|full|complete)\s+)?(?:text|prose|words?|"
        r"sentences?|paragraphs?|numbers?|digits?|letters?|scores?|yes\s+or\s+no|lists?|bullets?|code|table)\b",
        r"\b(?:answer|respond|reply|output|return)\s+(?:only\s+)?(?:an?\s+|one\s+)?"
        r"(?:number|score|rating|sentence|word|letter|digit)s?\b",
        r"\b(?:explain|justify|describe)\s+(?:your|the|each)\s+(?:answer|choice|reasoning|label|decision)",
        r"\b(?:step[\s-]by[\s-]step|chain[\s-]of[\s-]thought|think\s+(?:out\s+loud|aloud|first))\b",
        r"\b(?:give|provide|include|add|write)\s+(?:an?\s+|your\s+)?(?:short\s+|brief\s+)?"
        r"(?:explanation|reason|reasoning|rationale|justification|summary|comment)s?\b",
    )
)
_HEADING = re.compile(r"^\s*#{1,6}\s*(?:output\s+format\b|choose\b|.*\bfor:\s*\S+\s*$)", re.I | re.M)
_NEW_LABEL = re.compile(
    r"\b(?:new|extra|additional|custom)\s+(?:labels?|categor(?:y|ies)|class(?:es)?|options?|"
    r"choices?|tags?)\b|\badd\s+(?:a|an|the)\s+(?:label|category|class|option|choice)\b",
    re.I,
)
_DECLARED = re.compile(
    r"\b(?:labels?|categories|classes|options|choices|tags)\s*(?:are|is|include|includes|:)\s*([^\n.;]+)", re.I
)
_QUOTED = re.compile(
    r"\b(?:label(?:l?ed)?|categori[sz]e|classify|tag|answer|respond\s+with|reply\s+with|output|return|choose|"
    r"select|pick|use|assign|mark)\s+(?:it\s+|this\s+|them\s+)?(?:as\s+|with\s+)?(?:the\s+)?"
    r"(?:label\s+|category\s+|option\s+)?[\"'“‘«]([^\"'”’»\n]{1,60})[\"'”’»]",
    re.I,
)
_NAMED = re.compile(
    r"(?i:\b(?:use|choose|select|pick|assign|apply|answer|output|return)\s+(?:the\s+)?"
    r"(?:label|category|class|option|choice|tag))\s+([A-Z][\w-]*)"
)
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+(.*\S)\s*$", re.M)
_TERM = re.compile(r"^([^:=]{1,40}?)\s*(?::|=|\s[–—-]\s)\s*\S")
_NOT_LABELS = frozenset(
    "note|notes|important|example|examples|e.g.|tip|hint|remember|warning|caution|context|definition|"
    "definitions|guideline|guidelines|rule|rules|edge case|edge cases|n.b.".split("|")
)


def check_instructions(instructions: str, spec: LabelSpec) -> None:
    if not isinstance(instructions, str) or not instructions.strip():
        raise PromptTemplateError("instruction is empty: describe the task, or leave it unset to use the default")
    if len(instructions) > MAX_INSTRUCTIONS_CHARS:
        raise PromptTemplateError(f"instruction is longer than {MAX_INSTRUCTIONS_CHARS} characters")
    if match := _JINJA.search(instructions):
        raise PromptTemplateError(
            f"instruction refused: it contains template syntax {match.group(0)!r}. The instruction is inserted as "
            f"plain text, never as template code; {LOCKED}. To change the template itself, pass a custom source."
        )
    check_text(instructions, spec, "instruction")


def check_text(text: str, spec: LabelSpec, what: str) -> None:
    """Refuse text that tries to override a locked part, naming the phrase and what is locked."""
    _check_visible(text, what)
    text = unicodedata.normalize("NFKC", text)  # fullwidth and other look-alike forms read as plain letters
    plain = _without_config_names(text, spec)
    for pattern in _OVERRIDE:
        if match := pattern.search(plain):
            raise PromptTemplateError(
                f"{what} refused: {match.group(0)!r} tries to override the fixed parts of the prompt; {LOCKED}. "
                "The instruction may only describe the task."
            )
    for pattern in _FORMAT:
        if match := pattern.search(plain):
            raise PromptTemplateError(
                f"{what} refused: {match.group(0)!r} sets an answer format, but the output format instruction is "
                "locked (the model answers ONLY a JSON object keyed by control name, a label string for single "
                "choice, a list for multiple choice). Describe the task only."
            )
    if match := _HEADING.search(text):
        raise PromptTemplateError(
            f"{what} refused: the line {match.group(0).strip()!r} imitates a locked heading; {LOCKED}."
        )
    if found := _unknown_label(text, spec):
        labels = ", ".join(f"'{label}'" for control in spec.controls for label in control.texts)
        raise PromptTemplateError(
            f"{what} refused: it introduces {found} that is not in the labeling config (labels: {labels}). "
            "The label options are locked and come from the labeling config: add the label there, or describe "
            "the existing labels in sentences."
        )


def _check_visible(text: str, what: str) -> None:
    """Refuse invisible format characters (zero-width spaces and joiners, bidi controls, BOM):
    inside a word they hide it from the checks, and from whoever reads the prompt."""
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cf":
            raise PromptTemplateError(
                f"{what} refused: it contains the invisible character U+{ord(char):04X} "
                f"({unicodedata.name(char, 'format character')}) at character {index}; write it as plain text."
            )


def _without_config_names(text: str, spec: LabelSpec) -> str:
    """The text without the config's own names, so a control called "json" is not read as a format."""
    names = {c.name for c in spec.controls} | {f.name for f in spec.inputs}
    names |= {x for c in spec.controls for label in c.labels for x in (label.value, label.text)}
    pattern = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True) if name)
    return re.sub(rf"(?<!\w)(?:{pattern})(?!\w)", " ", text)


def _unknown_label(text: str, spec: LabelSpec) -> str | None:
    """Describe the first label-like term in the text that the config does not define, if any."""
    known = {_norm(c.name) for c in spec.controls} | {_norm(f.name) for f in spec.inputs}
    known |= {_norm(x) for c in spec.controls for lb in c.labels for x in (lb.value, lb.text)}
    if match := _NEW_LABEL.search(text):
        return f"a label ({match.group(0)!r})"
    candidates = [m.group(1) for m in _QUOTED.finditer(text)] + [m.group(1) for m in _NAMED.finditer(text)]
    for match in _DECLARED.finditer(text):
        items = [item for item in re.split(r"\s*(?:,|/|\||\bor\b|\band\b)\s*", match.group(1)) if item.strip()]
        candidates += [item for item in items if _quoted(item) or (len(items) > 1 and item.strip()[:1].isupper())]
    for match in _BULLET.finditer(text):
        line = match.group(1)
        term = _TERM.match(line)
        if term:
            candidates.append(term.group(1))
        elif len(line.split()) <= 3 and line[-1] not in ".!?":
            candidates.append(line)
    for candidate in candidates:
        name = _norm(candidate)
        if name and name not in known and name not in _NOT_LABELS and len(name.split()) <= 4:
            return f"the label '{candidate.strip()}'"
    return None


def _quoted(item: str) -> bool:
    item = item.strip()
    return len(item) > 1 and item[0] in "\"'“‘«" and item[-1] in "\"'”’»"


def _norm(text: str) -> str:
    return " ".join(text.strip(" \t\"'“”‘’«»*_`").split()).casefold()
