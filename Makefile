SHELL := /bin/bash

.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/lsagent demo

test:
	bash scripts/setup.sh --services
	.venv/bin/pytest
