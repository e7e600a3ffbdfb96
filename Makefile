SHELL := /bin/bash

.PHONY: setup demo test bench screenshots

setup:
	bash scripts/setup.sh

# make demo DEMO_ARGS='--port-ls 8081 --data-dir /tmp/demo' passes options through.
demo: setup
	.venv/bin/lsagent demo $(DEMO_ARGS)

test:
	bash scripts/setup.sh --services
	.venv/bin/pytest

# Benchmarks (not tests): their figures are in the README.
bench: setup
	.venv/bin/python benchmarks/bench_predict.py
	.venv/bin/python benchmarks/bench_jobs.py

# The README's pictures: the demo's review view and labeling view, rendered in headless Chromium.
screenshots: setup
	.venv/bin/python scripts/screenshots.py
