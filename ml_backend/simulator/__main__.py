"""Entry point of ``python -m ml_backend.simulator``."""

from ml_backend.simulator.cli import main

raise SystemExit(main(prog="python -m ml_backend.simulator"))
