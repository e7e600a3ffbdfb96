"""Where RQ jobs queued by releases before the flow layout find their function: they name
``ml_backend.worker.run_chunk``, so chunks queued before an upgrade still run after it."""

from ml_backend.jobs.worker import run_chunk

__all__ = ["run_chunk"]
