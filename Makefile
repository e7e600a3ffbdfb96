SHELL := /bin/bash

.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

# make demo DEMO_ARGS='--port-ls 8081 --data-dir /tmp/demo' passes options through.
demo: setup
	.venv/bin/lsagent demo $(DEMO_ARGS)

test:
	bash scripts/setup.sh --services
	.venv/bin/pytest
