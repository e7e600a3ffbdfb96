"""``python -m ml_backend.simulator`` / ``lsagent simulator``: run the simulator in the foreground."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from ml_backend.simulator.options import OptionsError, build_parser, options_from_args
from ml_backend.simulator.server import make_server

BANNER = "LLM SIMULATOR (not a real model) listening on {url}"


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse the flags, listen, print the banner (the readiness signal), serve until stopped."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except OptionsError as exc:
        parser.error(str(exc))
    try:
        server = make_server(args.host, args.port, options)
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(BANNER.format(url=server.url), flush=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends ``serve_forever`` like Ctrl-C, so the socket is closed cleanly."""
    raise SystemExit(0)
