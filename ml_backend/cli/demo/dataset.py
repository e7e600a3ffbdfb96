"""The bundled demo datasets (see ``ml_backend/cli/demo/data/README.md``): short reviews with gold
sentiment labels, and short sentences with gold person/organisation/location spans.

Tasks carry only the text in ``data``; the gold answer and the item's id travel in the task's
``meta``, which the labeling config does not reference, so the prompt never contains the answer
while the demo can still compare the agent with the gold, and find its own tasks again by id.
``DEMO_TASKS`` names what ``lsagent demo --task`` offers and what differs between them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

LABELS = ("Positive", "Negative", "Neutral")
KINDS = ("plain", "mixed", "sarcastic")
ENTITY_LABELS = ("PER", "ORG", "LOC")
PROJECT_TITLE = "lsagent demo: customer review sentiment"
PROJECT_DESCRIPTION = ("Short customer reviews labelled by an lsagent LLM agent; verify the low-confidence "
                       "ones and an audit sample.")
NER_TITLE = "lsagent demo: named entities (PER, ORG, LOC)"
NER_DESCRIPTION = ("Short sentences whose people, organisations and places an lsagent LLM agent marked; verify "
                   "the least confident ones and an audit sample.")


class DatasetError(ValueError):
    """The bundled dataset is malformed (a packaging mistake, not a user error)."""


class DemoItem(Protocol):
    """One item of a bundled dataset: a stable id, and the Label Studio task it becomes."""

    @property
    def uid(self) -> str: ...

    def task(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Review:
    uid: str
    domain: str
    kind: str
    label: str
    text: str

    def task(self) -> dict[str, Any]:
        """The Label Studio task: the text for the model and annotators, the rest in ``meta``."""
        return {"data": {"text": self.text},
                "meta": {"uid": self.uid, "gold": self.label, "domain": self.domain, "kind": self.kind}}


@dataclass(frozen=True)
class Sentence:
    """A sentence and its gold entities: ``{"start", "end", "text", "label"}`` by start offset."""

    uid: str
    text: str
    entities: tuple[dict[str, Any], ...]

    def task(self) -> dict[str, Any]:
        """The Label Studio task; ``meta.kind`` counts the entities (the demo's agreement is shown by it)."""
        count = len(self.entities)
        return {"data": {"text": self.text},
                "meta": {"uid": self.uid, "gold": list(self.entities),
                         "kind": f"{count} entit{'y' if count == 1 else 'ies'}"}}


@dataclass(frozen=True)
class DemoTask:
    """What differs between the demo's tasks: the dataset, its project and the agent's brief."""

    name: str
    title: str
    description: str
    config_file: str
    load: Callable[[], Sequence[DemoItem]]
    agent_name: str
    control: str
    instructions: str
    annotator_instructions: str

    def label_config(self) -> str:
        return _read(self.config_file)


def label_config() -> str:
    return _read("sentiment.xml")


def load_reviews() -> list[Review]:
    """All reviews, in file order; raises DatasetError naming the bad row."""
    reviews = []
    seen: set[str] = set()
    for number, row in enumerate(csv.DictReader(io.StringIO(_read("reviews.csv"))), start=2):
        review = Review(uid=row["id"], domain=row["domain"], kind=row["kind"], label=row["label"],
                        text=row["text"].strip())
        if review.label not in LABELS or review.kind not in KINDS or not review.text or review.uid in seen:
            raise DatasetError(f"reviews.csv line {number}: bad row {row!r}")
        seen.add(review.uid)
        reviews.append(review)
    return reviews


def load_sentences() -> list[Sentence]:
    """All sentences, in file order; raises DatasetError naming the line whose gold spans do not
    match its text (an offset that does not cut out the entity, an unknown label, overlaps)."""
    sentences = []
    seen: set[str] = set()
    for number, line in enumerate(_read("ner.jsonl").splitlines(), start=1):
        try:
            row = json.loads(line)
            sentence = Sentence(uid=str(row["id"]), text=str(row["text"]), entities=tuple(row["entities"]))
        except (ValueError, KeyError, TypeError):
            raise DatasetError(f"ner.jsonl line {number}: not a sentence with id, text and entities") from None
        if not sentence.text.strip() or sentence.uid in seen or not _spans_fit(sentence):
            raise DatasetError(f"ner.jsonl line {number}: bad sentence {line!r}")
        seen.add(sentence.uid)
        sentences.append(sentence)
    return sentences


def _spans_fit(sentence: Sentence) -> bool:
    """Each span cuts its own text out of the sentence, has a known label, and follows the last."""
    end = 0
    for span in sentence.entities:
        start, stop = span.get("start"), span.get("end")
        if not isinstance(start, int) or not isinstance(stop, int) or start < end or stop <= start:
            return False
        if sentence.text[start:stop] != span.get("text") or span.get("label") not in ENTITY_LABELS:
            return False
        end = stop
    return True


def _read(name: str) -> str:
    return resources.files("ml_backend.cli.demo").joinpath(f"data/{name}").read_text(encoding="utf-8")


DEMO_TASKS = {
    "sentiment": DemoTask(
        name="sentiment", title=PROJECT_TITLE, description=PROJECT_DESCRIPTION, config_file="sentiment.xml",
        load=load_reviews, agent_name="demo-sentiment", control="sentiment",
        instructions=("Classify the overall sentiment of the customer review. Sarcastic praise is Negative. A mixed "
                      "review takes the side it leans to, and is Neutral when balanced; facts, questions and "
                      "reviews without an opinion are Neutral."),
        annotator_instructions=(
            "<p>Check the sentiment the agent pre-selected. Keep it when it is right, change it when not, then "
            "submit.</p><ul><li><b>Positive</b>/<b>Negative</b>: the writer's overall opinion.</li><li>Sarcastic "
            "praise is <b>Negative</b>.</li><li>Mixed reviews take the side they lean to; <b>Neutral</b> when "
            "balanced, factual or without an opinion.</li></ul>")),
    "ner": DemoTask(
        name="ner", title=NER_TITLE, description=NER_DESCRIPTION, config_file="ner.xml", load=load_sentences,
        agent_name="demo-ner", control="entities",
        instructions=("Mark every named person (PER), organisation (ORG) and location (LOC: cities, countries, "
                      "regions) exactly as written in the sentence, including a leading 'The' that is part of "
                      "an organisation's name. Do not mark dates, jobs or common nouns."),
        annotator_instructions=(
            "<p>Check the entities the agent highlighted. Remove wrong ones, fix a label or a boundary, add the "
            "ones it missed, then submit.</p><ul><li><b>PER</b>: people.</li><li><b>ORG</b>: companies, banks, "
            "universities, councils.</li><li><b>LOC</b>: cities, countries, regions.</li></ul>")),
}
