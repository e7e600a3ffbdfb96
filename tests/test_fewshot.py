"""A derived agent's prompt: verified examples locked in (a custom template cannot drop them),
fixed examples in the static system message, per-task nearest examples as turns before the task,
the examples part of the agent's id; and the two selections on a small known set."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from ml_backend.engine import agents, prompts
from ml_backend.engine.fewshot import HEADING, MAX_VECTOR_NUMBERS, Example, FewShot, nearest
from ml_backend.engine.labeling import parse_label_config
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.review.derive import DeriveError, pool_vectors, representative_examples
from ml_backend.review.diversity import tfidf

CONFIG = """<View><Text name="text" value="$text"/>
<Choices name="sentiment" toName="text"><Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/>
</Choices></View>"""
SPEC = parse_label_config(CONFIG)
POOL = (
    Example(task=1, inputs=("the pizza was delicious and hot",), answer={"sentiment": "Positive"}),
    Example(task=2, inputs=("rain all day, the weather is grim",), answer={"sentiment": "Negative"}),
    Example(task=3, inputs=("cold pizza, soggy crust",), answer={"sentiment": "Negative"}),
    Example(task=4, inputs=("sunny weather at last",), answer={"sentiment": "Positive"}),
)
#: The default template with a line of its own and without any few-shot part: examples are not
#: the template's to render, so a custom template cannot leave them out.
CUSTOM = prompts.default_source().replace("{{ instructions }}\n", "{{ instructions }}\nBe precise.\n", 1)


def shots(select: str, examples: tuple[Example, ...] = POOL, k: int = 2) -> FewShot:
    return FewShot(select=select, k=k, base="b" * 64, examples=examples)  # type: ignore[arg-type]


def draft(few_shot: FewShot | None, source: str | None = None) -> agents.Agent:
    return agents.draft(name="sent", project=1, label_config=CONFIG,
                        config=ModelConfig(model="sim-small", few_shot=few_shot), template_source=source)


def messages(agent: agents.Agent, text: str) -> list[dict[str, str]]:
    return prompts.render_messages(agent.template, agent.spec, {"text": text}, agent.config.few_shot)


def test_diverse_examples_are_locked_in_the_static_system_message() -> None:
    agent = draft(shots("diverse", POOL[:2]), source=CUSTOM)
    first, second = messages(agent, "a fine lamp"), messages(agent, "awful service")
    assert first[0] == second[0], "the system message must be byte-identical across tasks"
    system = first[0]["content"]
    assert "Be precise." in system and HEADING in system
    assert 'Text:\nthe pizza was delicious and hot\nAnswer: {"sentiment": "Positive"}' in system
    assert 'Text:\nrain all day, the weather is grim\nAnswer: {"sentiment": "Negative"}' in system
    assert system.index("## Output format") < system.index(HEADING) < system.index(prompts.PRECEDENCE)
    assert system.endswith(prompts.PRECEDENCE)
    assert [message["role"] for message in first] == ["system", "user"] and first[1]["content"] == "a fine lamp"


def test_similar_examples_are_per_task_turns_before_the_task() -> None:
    agent = draft(shots("similar"), source=CUSTOM)
    base = draft(None, source=CUSTOM)
    pizza, weather = messages(agent, "the pizza crust was cold"), messages(agent, "grim weather today")
    assert pizza[0] == weather[0] == messages(base, "x")[0], "the static part is the base agent's, unchanged"
    assert [message["role"] for message in pizza] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in pizza[1:5]] == ["cold pizza, soggy crust", '{"sentiment": "Negative"}',
                                                  "the pizza was delicious and hot", '{"sentiment": "Positive"}']
    assert [m["content"] for m in weather[1:5:2]] == ["rain all day, the weather is grim", "sunny weather at last"]
    assert pizza[-1]["content"] == "the pizza crust was cold"


def test_the_examples_are_part_of_the_agent_id() -> None:
    base = draft(None)
    once, twice = draft(shots("similar")), draft(shots("similar"))
    more = draft(shots("similar", POOL + (Example(task=9, inputs=("ok",), answer={"sentiment": "Neutral"}),)))
    assert once.id == twice.id and once.model_version == twice.model_version
    assert len({base.id, once.id, more.id, draft(shots("diverse")).id, draft(shots("similar", k=3)).id}) == 5
    assert "few_shot" not in base.config.normalised(), "an agent without examples keeps its stored shape and id"


def test_nearest_ranks_by_similarity_then_task_id() -> None:
    assert [example.task for example in nearest(POOL, "hot pizza", 3)] == [1, 3, 2]
    assert [example.task for example in nearest(POOL, "zzz", 2)] == [1, 2], "no shared word: lowest task ids"


def test_diverse_picks_one_example_per_cluster() -> None:
    pool = [Example(task=index, inputs=(text,), answer={"sentiment": "Neutral"}) for index, text in enumerate(
        ["pizza pasta cheese", "pizza pasta", "pizza cheese", "rain wind storm", "rain storm", "train bus ticket",
         "train bus", "bus ticket train"], start=10)]
    chosen = representative_examples(pool, tfidf([example.inputs[0] for example in pool]), 3)
    groups = [{10, 11, 12}, {13, 14}, {15, 16, 17}]
    assert len(chosen) == 3 and all(len({e.task for e in chosen} & group) == 1 for group in groups)
    assert [e.task for e in chosen] == sorted(e.task for e in chosen)
    assert representative_examples(pool, tfidf([e.inputs[0] for e in pool]), 3) == chosen, "seeded: stable"


#: Unit vectors of the pool (3 dimensions): tasks 1 and 3 share the first axis, 2 and 4 the second.
VECTORS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.8, 0.0, 0.6), (0.0, 0.6, 0.8))


def embedded(k: int = 2, vectors: tuple[tuple[float, ...], ...] = VECTORS, note: str = "") -> FewShot:
    return FewShot(select="similar", k=k, base="b" * 64, examples=POOL, representation="embeddings sim-small",
                   representation_note=note, vectors=vectors)


def test_by_vector_ranks_by_cosine_then_task_id() -> None:
    shots = embedded(k=3)
    # cosines with (1, 0, 1)/sqrt 2: task 1 0.707, task 2 0, task 3 0.990, task 4 0.566
    assert shots.by_vector([1.0, 0.0, 1.0]) == [3, 1, 4]
    assert shots.by_vector([0.0, 0.0, 0.0]) == [1, 2, 3], "a zero vector is like none: lowest task ids"
    assert embedded(k=4).by_vector([0.0, 5.0, 0.0]) == [2, 4, 1, 3], "length does not matter; ties by task id"


def test_chosen_examples_replace_the_tfidf_choice_in_the_turns() -> None:
    agent = draft(embedded())
    tfidf_turns = messages(agent, "hot pizza")
    chosen = prompts.render_messages(agent.template, agent.spec, {"text": "hot pizza"}, agent.config.few_shot,
                                     chosen=[4, 2])
    assert [m["content"] for m in tfidf_turns[1:5:2]] == ["the pizza was delicious and hot", "cold pizza, soggy crust"]
    assert [m["content"] for m in chosen[1:5:2]] == ["sunny weather at last", "rain all day, the weather is grim"]


def test_vectors_and_representation_are_the_agent_id_the_note_is_not() -> None:
    # The ids these agents had before representations were recorded (computed on main, 2026-11-30).
    assert draft(shots("similar")).id == "bd934aa03866d5d69b57c64c321f46a6aaf7a7c90a84af9f5be42cc4c5612f9e"
    diverse = FewShot(select="diverse", k=2, base="b" * 64, examples=POOL, representation="embeddings sim-small")
    assert draft(diverse).id == "97d247f4dbc2fd96e29cd7d7808bac8834d03d08a7bbdcc758f23b53b34ff014"
    noted = shots("similar").model_copy(update={"representation_note": "no embeddings (404): local TF-IDF"})
    assert draft(noted).id == draft(shots("similar")).id, "why there are no embeddings changes no prompt"
    assert draft(embedded()).id == draft(embedded(note="anything")).id != draft(shots("similar")).id
    moved = (VECTORS[1], VECTORS[0], *VECTORS[2:])
    assert draft(embedded(vectors=moved)).id != draft(embedded()).id, "other vectors, another agent"


def test_vectors_are_checked_and_bounded() -> None:
    with pytest.raises(ValidationError, match="one vector per example"):
        embedded(vectors=VECTORS[:3])
    with pytest.raises(ValidationError, match="needs the pool's vectors"):
        FewShot(select="similar", k=2, base="b" * 64, examples=POOL, representation="embeddings sim-small")
    with pytest.raises(ValidationError, match="belong to a 'similar' selection by embeddings"):
        FewShot(select="similar", k=2, base="b" * 64, examples=POOL, vectors=VECTORS)
    wide = MAX_VECTOR_NUMBERS // len(POOL) + 1
    with pytest.raises(ValidationError, match=f"{wide * len(POOL)} vector numbers exceed the bound of "
                                              f"{MAX_VECTOR_NUMBERS}"):
        embedded(vectors=tuple((1.0,) + (0.0,) * (wide - 1) for _ in POOL))
    matrix = np.ones((len(POOL), wide)) / np.sqrt(wide)
    with pytest.raises(DeriveError, match=r"4 examples x \d+ dimensions = \d+ numbers, more than the 250000.*"
                                          r"--select diverse"):
        pool_vectors(matrix)
    assert pool_vectors(np.asarray([[0.123456, -0.98765]])) == ((0.1235, -0.9877),)
