"""Write ml_backend/cli/demo/data/ner.jsonl: short sentences with PER/ORG/LOC gold spans.

Written for the project: invented people and organisations, real places, sentence templates of
our own. Deterministic (a fixed seed), so running it again gives the same file.
Usage: python scripts/make_ner_demo.py
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 13
COUNT = 300
OUT = Path(__file__).resolve().parent.parent / "ml_backend/cli/demo/data/ner.jsonl"

PER = ["Maria Okafor", "Jonas Lindqvist", "Priya Raman", "Tomasz Wrobel", "Aiko Tanaka", "Luis Ferreira",
       "Hannah Becker", "Samuel Mensah", "Elena Petrova", "Omar Haddad", "Grace Liu", "Daniel Moreau",
       "Fatima Zahra", "Pieter de Vries", "Chloe Martin", "Ravi Iyer", "Ingrid Solberg", "Mateo Rossi",
       "Nadia Kowalski", "Kwame Boateng", "Sofia Alvarez", "Felix Hartmann", "Yuki Mori", "Amara Diallo",
       "Oskar Nilsson", "Leila Karimi", "Ben Carter", "Anya Volkova", "Marco Bianchi", "Zoe Adams"]
ORG = ["Northwind Logistics", "Bluepeak Energy", "Harbor Lane Bank", "Quillfield Press", "Vantor Robotics",
       "the Meridian Trust", "Copperleaf Foods", "Stellar Freight", "Orchid Health", "Brightwater Council",
       "Kestrel Airlines", "Lumen Analytics", "Greystone University", "Atlas Mutual", "Redfern Motors",
       "the Civic Theatre Company", "Pinecrest Hospital", "Tidewell Water", "Solace Insurance", "Nimbus Cloud"]
LOC = ["Lisbon", "Nairobi", "Osaka", "Toronto", "Gdansk", "Valparaiso", "Marseille", "Bergen", "Accra",
       "Melbourne", "Porto", "Kyoto", "Hamburg", "Cork", "Tallinn", "Seville", "Chennai", "Quebec", "Lyon",
       "Tromso", "Auckland", "Bilbao", "Leipzig", "Cusco", "Dakar", "Kenya", "Portugal", "Norway", "Chile",
       "the Rhine valley"]

TEMPLATES = [
    "{PER} joined {ORG} last spring.",
    "{ORG} opened a new office in {LOC}.",
    "{PER} flew from {LOC} to {LOC} on Monday.",
    "The board of {ORG} named {PER} chief executive.",
    "{PER} grew up in {LOC} and still lives there.",
    "Shares of {ORG} fell after the report.",
    "{PER} and {PER} met at a conference in {LOC}.",
    "{ORG} signed a supply deal with {ORG}.",
    "Heavy rain closed several roads around {LOC}.",
    "A spokesperson for {ORG} declined to comment.",
    "{PER} said the project in {LOC} would finish by June.",
    "{ORG} is hiring engineers in {LOC} and {LOC}.",
    "According to {PER}, {ORG} will not raise prices.",
    "The festival in {LOC} drew large crowds this year.",
    "{PER} left {ORG} to start a bakery.",
    "Investors in {LOC} welcomed the news from {ORG}.",
    "{PER} thanked {PER} for the help.",
    "{ORG} moved its headquarters from {LOC} to {LOC}.",
    "Nobody expected the meeting to last so long.",
    "{PER} wrote to {ORG} about the late delivery.",
    "Train services between {LOC} and {LOC} resume tomorrow.",
    "{ORG} and {ORG} announced a merger.",
    "{PER} visited {LOC} twice before moving to {LOC}.",
    "The new bridge in {LOC} was built by {ORG}.",
    "{PER} will speak at {ORG} on Thursday.",
    "Prices rose again last month.",
    "{PER} from {ORG} answered questions in {LOC}.",
    "Tourists in {LOC} praised the clean beaches.",
    "{ORG} fined for late filings, {PER} confirmed.",
    "{PER} told {PER} that {ORG} had called.",
]

SLOT = re.compile(r"\{(PER|ORG|LOC)\}")
POOLS = {"PER": PER, "ORG": ORG, "LOC": LOC}


def sentence(rng: random.Random, template: str) -> tuple[str, list[dict]]:
    """Fill a template's slots (distinct values per label within a sentence) and record the spans."""
    text, spans, used = "", [], {label: set() for label in POOLS}
    position = 0
    for match in SLOT.finditer(template):
        text += template[position:match.start()]
        label = match.group(1)
        value = rng.choice([name for name in POOLS[label] if name not in used[label]])
        used[label].add(value)
        if text == "" and value.startswith("the "):
            value = "The " + value[4:]
        spans.append({"start": len(text), "end": len(text) + len(value), "text": value, "label": label})
        text += value
        position = match.end()
    text += template[position:]
    return text, spans


def main() -> None:
    rng = random.Random(SEED)
    lines = []
    seen: set[str] = set()
    while len(lines) < COUNT:
        text, spans = sentence(rng, rng.choice(TEMPLATES))
        if text in seen:
            continue
        seen.add(text)
        lines.append({"id": f"n{len(lines) + 1:03d}", "text": text, "entities": spans})
    OUT.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    print(f"wrote {len(lines)} sentences to {OUT}")


if __name__ == "__main__":
    main()
