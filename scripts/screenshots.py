"""Render the demo's review view and labeling view to PNG for the README: ``make screenshots``.

Runs ``lsagent demo`` on free ports in a scratch data directory (or ``--data-dir``, reused as the
demo reuses it), waits until it is ready, opens the low-confidence review view and its least
confident task in headless Chromium (tests/fixtures/browser.py: Debian's chromium and
chromedriver, nothing downloaded), saves the two pictures, then stops the demo with Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sync.server import free_port  # noqa: E402
from tests.fixtures.browser import LabelStudioPage, chromium  # noqa: E402

READY_S = 600.0
SIZE = (1280, 720)


def start_demo(data_dir: Path) -> subprocess.Popen:
    command = [str(REPO / ".venv" / "bin" / "lsagent"), "demo", "--data-dir", str(data_dir),
               "--port-ls", str(free_port()), "--port", str(free_port()), "--sim-latency-ms", "5"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_ready(demo: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_S
    assert demo.stdout is not None
    for line in demo.stdout:
        print(line, end="", flush=True)
        if line.startswith("Ready."):
            return
        if time.monotonic() > deadline:
            break
    raise SystemExit("the demo did not get ready; see its output above")


def shoot(state: dict, out: Path, profile: Path) -> list[Path]:
    """The low-confidence review view, then its least confident task in the labeling view."""
    view = state["views"][0]
    driver = chromium(profile, *SIZE)
    try:
        page = LabelStudioPage(driver, state["label_studio_url"])
        page.login(state["username"], state["password"])
        page.open_view(state["project"], view["view_id"])
        first = int(page.rows()[0][0])
        time.sleep(1)  # let the table settle its column widths
        shots = [page.screenshot(out / "review-view.png")]
        page.open_task(state["project"], view["view_id"], first)
        time.sleep(1)
        shots.append(page.screenshot(out / "labeling-view.png"))
        return shots
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--data-dir", type=Path, help="the demo's data directory (default: a scratch one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lsagent-screenshots-") as scratch:
        data_dir = args.data_dir or Path(scratch) / "demo"
        demo = start_demo(data_dir)
        try:
            wait_ready(demo)
            state = json.loads((data_dir / "demo.json").read_text(encoding="utf-8"))
            for path in shoot(state, args.out, Path(scratch) / "chromium"):
                print(f"wrote {path}")
        finally:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=120)


if __name__ == "__main__":
    main()
