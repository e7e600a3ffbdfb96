"""Real labelled text for the benchmarks: the movie-review snippets with averaged human ratings
(Hutto & Gilbert, ICWSM 2014) that ship inside the ``vadersentiment==3.3.2`` sdist
(``additional_resources/hutto_ICWSM_2014.tar.gz``, ``movieReviewSnippets_GroundTruth.txt``).

The sdist is fetched once with ``pip download`` (the package registry only), its sha256 checked,
and only that text file is read and kept in the cache: none of the package's code runs. Gold =
the sign of the mean rating; snippets rated exactly 0 are left out.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST = "vadersentiment==3.3.2"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
SNIPPETS = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
CACHE = Path(os.environ.get("LSAGENT_HOME", Path.home() / ".cache" / "lsagent")) / "data"

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
          '<Choice value="Positive"/><Choice value="Negative"/></Choices></View>')
INSTRUCTIONS = "Classify the sentiment of the movie review snippet."


def snippets() -> list[tuple[str, str]]:
    """(text, gold label) of every snippet with a non-zero mean rating."""
    target = CACHE / "movieReviewSnippets_GroundTruth.txt"
    if not target.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                            "--dest", work, SDIST], check=True)
            sdist = next(Path(work).glob("*.tar.gz"))
            if hashlib.sha256(sdist.read_bytes()).hexdigest() != SDIST_SHA256:
                raise SystemExit(f"sha256 mismatch for {sdist.name}")
            with tarfile.open(sdist) as outer, tarfile.open(fileobj=outer.extractfile(INNER_ARCHIVE)) as inner:
                member = inner.extractfile(SNIPPETS)
                if member is None:
                    raise SystemExit(f"{SNIPPETS} is not a file in {INNER_ARCHIVE}")
                target.write_bytes(member.read())
    rows = []
    for line in target.read_text(encoding="utf-8", errors="replace").splitlines():
        _, rating, text = line.split("\t", 2)
        if float(rating) != 0:
            rows.append((text.strip(), "Positive" if float(rating) > 0 else "Negative"))
    return rows
