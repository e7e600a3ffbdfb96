"""Turning a job's subset into chunks, a page of Label Studio tasks at a time.

Each page read (``chunk_size`` tasks, with their data) becomes one chunk: its task ids are
stored, and its tasks go straight to whoever runs the chunk, so a task is read from Label Studio
once. The coordinator asks for the next chunk only while few chunks wait to be claimed, so a
100,000-task project is never in memory, and work starts after the first page instead of after
reading the whole subset. Paging resumes after the last planned task id (subsets are read in
ascending id order), so a coordinator taking over a half-planned job goes on where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ml_backend.jobs.subset import parse_subset
from ml_backend.runtime import Runtime
from ml_backend.store import ChunkRecord, JobRecord


class Planner:
    def __init__(self, runtime: Runtime, job: JobRecord, chunk_size: int, chunks: list[ChunkRecord]) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk size must be >= 1, got {chunk_size}")
        self.runtime = runtime
        self.job = job
        self.chunk_size = chunk_size
        self.subset = parse_subset(job.subset)
        self.next_index = len(chunks)
        self.after = max((max(chunk.task_ids) for chunk in chunks if chunk.task_ids), default=0)
        self.planned = sum(len(chunk.task_ids) for chunk in chunks)
        self._pages: Iterator[list[dict[str, Any]]] | None = None

    def next_chunk(self) -> tuple[int, list[dict[str, Any]]] | None:
        """Read the next page and store it as a chunk: (index, tasks), or None at the end.
        Raises ``sync.client.LabelStudioError`` subclasses; calling again after one retries."""
        from sync import filters
        from sync.tasks import iter_task_pages

        if self._pages is None:
            self._pages = iter_task_pages(self.runtime.label_studio(), self.job.project, page_size=self.chunk_size,
                                          fields=("id", "data"), where=[filters.id_after(self.after)],
                                          **self.subset.selection())
        try:
            tasks = next(self._pages)
        except StopIteration:
            return None
        except Exception:
            self._pages = None  # a generator that raised is finished: start again after `after`
            raise
        ids = [int(task["id"]) for task in tasks]
        self.runtime.store.add_chunks(self.job.id, [ids], start=self.next_index)
        index, self.next_index = self.next_index, self.next_index + 1
        self.after = max(ids)
        self.planned += len(ids)
        return index, tasks

    def expected_total(self) -> int | None:
        """How many tasks the subset should have, cheaply, for progress before planning ends."""
        from sync.tasks import count_tasks

        if self.subset.kind == "ids":
            return len(self.subset.ids)
        return count_tasks(self.runtime.label_studio(), self.job.project, **self.subset.selection())
