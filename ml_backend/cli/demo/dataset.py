"""The bundled demo dataset: short reviews with gold sentiment labels (see ``ml_backend/cli/demo/data/README.md``).

Tasks carry only the text in ``data``; the gold label and the review's id travel in the task's
``meta``, which the labeling config does not reference, so the prompt never contains the answer
while the demo can still compare the agent with the gold, and find its own tasks again by id.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from typing import Any

LABELS = ("Positive", "Negative", "Neutral")
KINDS = ("plain", "mixed", "sarcastic")
PROJECT_TITLE = "lsagent demo: customer review sentiment"
PROJECT_DESCRIPTION = ("Short customer reviews labelled by an lsagent LLM agent; verify the low-confidence "
                       "ones and an audit sample.")


class DatasetError(ValueError):
    """The bundled dataset is malformed (a packaging mistake, not a user error)."""


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


def label_config() -> str:
    return resources.files("ml_backend.cli.demo").joinpath("data/sentiment.xml").read_text(encoding="utf-8")


def load_reviews() -> list[Review]:
    """All reviews, in file order; raises DatasetError naming the bad row."""
    raw = resources.files("ml_backend.cli.demo").joinpath("data/reviews.csv").read_text(encoding="utf-8")
    reviews = []
    seen: set[str] = set()
    for number, row in enumerate(csv.DictReader(io.StringIO(raw)), start=2):
        review = Review(uid=row["id"], domain=row["domain"], kind=row["kind"], label=row["label"],
                        text=row["text"].strip())
        if review.label not in LABELS or review.kind not in KINDS or not review.text or review.uid in seen:
            raise DatasetError(f"reviews.csv line {number}: bad row {row!r}")
        seen.add(review.uid)
        reviews.append(review)
    return reviews
