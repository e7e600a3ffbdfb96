"""The front door says what is true: the README's CLI reference is the commands' own --help (every
option of every command), the demo's size is the dataset's, DEMO_ARGS is explained, the set-up
script says what each long install does and roughly how long it takes."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from ml_backend.cli.demo.dataset import load_reviews

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_is_the_commands_own_help() -> None:
    """Generated in a process of its own: click remembers a command's help option once it ran
    alone (as other tests run ``demo``), which would change its --help in this one."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "cli_reference.py")], capture_output=True,
                          text=True, timeout=60, check=True)
    section = done.stdout.rstrip("\n")
    assert section.startswith(_generator().START) and section in README, \
        "README.md's CLI reference is out of date: run `make cli-reference`"
    assert "/root/" not in section and str(Path.home()) not in section
    for option in ("--context-window", "--subset", "--stop-after-views", "--fault-429", "--burst", "--target"):
        assert option in section


def test_the_reference_is_replaced_between_its_markers_only() -> None:
    generator = _generator()
    document = f"before\n{generator.START}\nold\n{generator.END}\nafter\n"
    assert generator.replaced(document, "NEW") == "before\nNEW\nafter\n"


def test_the_demo_s_size_and_options_are_the_real_ones() -> None:
    sizes = {int(found) for found in re.findall(r"imports (\d+) short reviews", README)}
    assert sizes == {len(load_reviews())}
    assert "DEMO_ARGS" in README and "make demo DEMO_ARGS=" in README
    assert "Python >= 3.11" in README and "root" in README


def test_long_installs_say_what_they_do_and_how_long() -> None:
    lines = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8").splitlines()
    installs = [index for index, line in enumerate(lines) if re.search(r'pip"? install|apt-get install', line)]
    assert installs
    for index in installs:
        said = [line for line in lines[max(0, index - 4):index] if line.strip().startswith("say ")]
        assert said and re.search(r"\d+(-\d+)? minutes", said[-1]), lines[index]


def test_every_job_knob_is_documented() -> None:
    knobs = set(re.findall(r'"(LSAGENT_[A-Z_]+)"', (ROOT / "ml_backend" / "jobs" / "options.py").read_text()))
    assert len(knobs) >= 10 and not [knob for knob in sorted(knobs) if f"`{knob}`" not in README]
