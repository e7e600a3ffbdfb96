SHELL := /bin/bash

.PHONY: setup demo test test-fast lint bench cli-reference screenshots

setup:
	bash scripts/setup.sh

# make demo DEMO_ARGS='--port-ls 8081 --data-dir /tmp/demo' passes options through.
demo: setup
	.venv/bin/lsagent demo $(DEMO_ARGS)

# Both tiers, the fast one first: a broken unit fails in seconds, before any service starts.
test:
	bash scripts/setup.sh --services
	.venv/bin/pytest -m "not integration" -n 2
	.venv/bin/pytest -m integration

# No Label Studio, Redis or PostgreSQL needed.
test-fast:
	bash scripts/setup.sh --project
	.venv/bin/pytest -m "not integration" -n 2

lint:
	bash scripts/setup.sh --project
	.venv/bin/ruff check .
	.venv/bin/mypy

# The README's CLI reference, written from the commands' own --help.
cli-reference:
	bash scripts/setup.sh --project
	.venv/bin/python scripts/cli_reference.py --write README.md

# Benchmarks (not tests): their figures are in the README.
bench: setup
	.venv/bin/python benchmarks/bench_cli.py
	.venv/bin/python benchmarks/bench_predict.py
	.venv/bin/python benchmarks/bench_jobs.py
	.venv/bin/python benchmarks/bench_review.py

# The README's pictures: the demo's review view and labeling view, rendered in headless Chromium.
screenshots: setup
	.venv/bin/python scripts/screenshots.py
