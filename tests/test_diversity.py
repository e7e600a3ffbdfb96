"""Diversity reviews' building blocks on known data: the budget's allocation (by hand), clusters
and representatives over TF-IDF, and the simulator's deterministic embeddings."""

from __future__ import annotations

import math

import numpy as np

from ml_backend.review.diversity import allocate, clusters, representatives, tfidf
from ml_backend.simulator.embeddings import vector

TOPICS = {
    "battery": ["the battery died after a day", "battery drains fast, battery is weak",
                "weak battery, charge lasts hours"],
    "delivery": ["delivery was late by a week", "the courier lost my delivery", "late delivery, courier never came"],
    "price": ["too expensive for what it is", "the price is far too high", "expensive, price doubled"],
}


def test_the_budget_covers_every_cluster_then_takes_the_most_uncertain() -> None:
    labels = [0, 0, 0, 1, 1, 2]
    uncertainty = [0.9, 0.8, 0.7, 0.1, 0.05, 0.3]
    # cover: 0 (0.9), 5 (0.3), 3 (0.1); then the most uncertain left: 1 (0.8). Expected errors 2.1,
    # the most any four rows holding all three clusters can give (lowest confidence, 0 1 2 5,
    # gives 2.7 but never looks at cluster 1).
    assert allocate(labels, uncertainty, 4) == [0, 5, 3, 1]
    assert allocate(labels, uncertainty, 2) == [0, 5]  # fewer picks than clusters: the likeliest errors
    assert allocate(labels, uncertainty, 10) == [0, 5, 3, 1, 2, 4]


def test_tfidf_clusters_find_the_topics_and_one_representative_each() -> None:
    texts = [text for group in TOPICS.values() for text in group]
    matrix = tfidf(texts)
    labels, centres = clusters(matrix, 3)
    groups = {frozenset(index for index, label in enumerate(labels) if label == cluster) for cluster in set(labels)}
    assert groups == {frozenset({0, 1, 2}), frozenset({3, 4, 5}), frozenset({6, 7, 8})}
    chosen = representatives(matrix, labels, centres)
    assert sorted(index // 3 for index in chosen) == [0, 1, 2]
    assert clusters(matrix, 3)[0] == labels  # seeded: the same view twice


def test_fewer_distinct_texts_than_clusters_give_fewer_clusters() -> None:
    labels, centres = clusters(tfidf(["same text", "same text", "other words"]), 3)
    assert len(centres) == 2 and labels[0] == labels[1] != labels[2]


def test_simulator_embeddings_are_deterministic_unit_vectors_that_group_alike_texts() -> None:
    first, again = vector("the battery died after a day"), vector("the battery died after a day")
    assert first == again and math.isclose(sum(v * v for v in first), 1.0)
    near = float(np.dot(first, vector("battery died, weak battery")))
    far = float(np.dot(first, vector("delivery was late by a week")))
    assert near > far
    assert vector("") == [0.0] * 63 + [1.0]
