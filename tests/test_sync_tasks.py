"""sync.tasks against a real Label Studio: keyset paging, id lists, unlabeled, views."""

import pytest

from sync import filters
from sync.annotations import create_annotation
from sync.tasks import count_tasks, existing_task_ids, get_task, iter_task_pages
from sync.views import upsert_view
from tests.fixtures.label_studio import SENTIMENT_CONFIG, sentiment


@pytest.fixture(scope="module")
def big_project(label_studio):
    """1,200 tasks, nothing else (tests here must not annotate it)."""
    return label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"task {n}"} for n in range(1200)])


def test_pages_of_500_over_1200_tasks(label_studio, big_project):
    pages = list(iter_task_pages(label_studio.client, big_project, page_size=500))
    assert [len(page) for page in pages] == [500, 500, 200]
    ids = [task["id"] for page in pages for task in page]
    assert ids == sorted(ids) == label_studio.task_ids(big_project) and len(set(ids)) == 1200
    first = pages[0][0]
    assert first["data"] == {"text": "task 0"} and first["total_annotations"] == 0
    assert set(first) == {"id", "data", "total_annotations", "cancelled_annotations", "total_predictions"}


def test_fields_select_what_label_studio_sends(label_studio, big_project):
    page = next(iter_task_pages(label_studio.client, big_project, page_size=3, fields=("id",)))
    assert page == [{"id": task_id} for task_id in label_studio.task_ids(big_project)[:3]]
    full = next(iter_task_pages(label_studio.client, big_project, page_size=1, fields=("data", "predictions")))
    assert set(full[0]) == {"id", "data", "predictions"} and full[0]["predictions"] == []


def test_a_page_size_that_divides_the_project_ends_without_an_empty_page(label_studio, big_project):
    pages = list(iter_task_pages(label_studio.client, big_project, page_size=600, fields=("id",)))
    assert [len(page) for page in pages] == [600, 600]


def test_bad_page_size_is_refused(label_studio, big_project):
    with pytest.raises(ValueError, match="page_size"):
        next(iter_task_pages(label_studio.client, big_project, page_size=0))


def test_id_list_selects_exactly_those_tasks_of_the_project(label_studio, big_project):
    all_ids = label_studio.task_ids(big_project)
    wanted = [all_ids[1100], all_ids[3], all_ids[700], all_ids[3]]
    other_project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "elsewhere"}])
    foreign = label_studio.task_ids(other_project)[0]
    pages = list(iter_task_pages(label_studio.client, big_project, ids=[*wanted, foreign, 99_999_999], page_size=2))
    assert [[task["id"] for task in page] for page in pages] == [sorted({*wanted})[:2], sorted({*wanted})[2:]]
    assert count_tasks(label_studio.client, big_project, ids=[*wanted, foreign]) == 3
    assert existing_task_ids(label_studio.client, big_project, [*wanted, foreign]) == set(wanted)


def test_a_long_id_list_is_sent_in_chunks(label_studio, big_project):
    all_ids = label_studio.task_ids(big_project)
    pages = list(iter_task_pages(label_studio.client, big_project, ids=all_ids, page_size=5000, fields=("id",)))
    assert [len(page) for page in pages] == [1000, 200]


def test_count_without_selection_is_the_project_size(label_studio, big_project):
    assert count_tasks(label_studio.client, big_project) == 1200
    assert count_tasks(label_studio.client, big_project, unlabeled=True) == 1200


def test_unlabeled_skips_annotated_tasks_but_not_skipped_ones(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"t{n}"} for n in range(10)])
    ids = label_studio.task_ids(project)
    create_annotation(label_studio.client, ids[2], sentiment("Positive"))
    create_annotation(label_studio.client, ids[5], sentiment("Negative"))
    create_annotation(label_studio.client, ids[7], [], was_cancelled=True)
    unlabeled = [task["id"] for page in iter_task_pages(label_studio.client, project, unlabeled=True) for task in page]
    assert unlabeled == [task_id for n, task_id in enumerate(ids) if n not in (2, 5)]
    assert count_tasks(label_studio.client, project, unlabeled=True) == 8
    by_ids = iter_task_pages(label_studio.client, project, ids=ids[:6], unlabeled=True)
    assert [task["id"] for page in by_ids for task in page] == [ids[0], ids[1], ids[3], ids[4]]


def test_labeling_while_paging_skips_nothing(label_studio):
    """Keyset paging: tasks annotated behind the cursor do not shift the next pages."""
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"t{n}"} for n in range(30)])
    ids = label_studio.task_ids(project)
    seen = []
    for page in iter_task_pages(label_studio.client, project, unlabeled=True, page_size=10, fields=("id",)):
        seen.extend(task["id"] for task in page)
        if len(seen) == 10:
            for task_id in seen[:5]:
                create_annotation(label_studio.client, task_id, sentiment("Neutral"))
    assert seen == ids


def test_tasks_of_a_view_combined_with_unlabeled_and_ids(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"t{n}"} for n in range(12)])
    ids = label_studio.task_ids(project)
    view = upsert_view(label_studio.client, project, "some", filters.ids_any(ids[:6]), ["-id"])
    create_annotation(label_studio.client, ids[1], sentiment("Positive"))
    in_view = [t["id"] for page in iter_task_pages(label_studio.client, project, view=view) for t in page]
    assert in_view == ids[:6]
    unlabeled = iter_task_pages(label_studio.client, project, view=view, unlabeled=True, ids=ids[1:4])
    assert [t["id"] for page in unlabeled for t in page] == [ids[2], ids[3]]
    assert count_tasks(label_studio.client, project, view=view) == 6
    assert count_tasks(label_studio.client, project, view=view, unlabeled=True) == 5


def test_get_task_has_data_annotations_and_predictions(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "hello"}])
    task_id = label_studio.task_ids(project)[0]
    create_annotation(label_studio.client, task_id, sentiment("Positive"))
    task = get_task(label_studio.client, task_id)
    assert task["id"] == task_id and task["data"] == {"text": "hello"} and task["predictions"] == []
    assert [annotation["result"] for annotation in task["annotations"]] == [sentiment("Positive")]


def test_annotations_in_pages_are_full_only_without_a_field_list(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "one"}])
    task_id = label_studio.task_ids(project)[0]
    made = create_annotation(label_studio.client, task_id, sentiment("Positive"))
    skipped = create_annotation(label_studio.client, task_id, [], was_cancelled=True)
    (task,) = next(iter_task_pages(label_studio.client, project, fields=None))
    assert [(a["id"], a["was_cancelled"]) for a in task["annotations"]] == [(made["id"], False), (skipped["id"], True)]
    assert task["annotations"][0]["result"] == sentiment("Positive")
    (slim,) = next(iter_task_pages(label_studio.client, project, fields=("annotations",)))
    assert slim["annotations"] == [{"id": made["id"]}, {"id": skipped["id"]}]
