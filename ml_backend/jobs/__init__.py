"""Annotation jobs: an agent labels a subset of a project, in chunks, exactly once.

- ``subset``: what to label; ``planner``: the subset read a page at a time, each page a chunk;
- ``chunk``: a process annotating chunks (claim, annotate, heartbeat), ``recorder`` writing the
  items in batches (one item per job and task, ever);
- ``executor``: chunks in the service (embedded) or on RQ workers (``lsagent worker``);
- ``coordinator``: one per job, anywhere (``locks``: leases and heartbeats): hands out chunks,
  takes back lost ones, ends the job with its ``summary``; ``pusher``/``push``: predictions
  written to Label Studio in bulk, exactly once; ``manager``: a service process's coordinators;
- ``pricing`` and ``estimate``: what a job costs, before and after; ``options``: the knobs.
"""
