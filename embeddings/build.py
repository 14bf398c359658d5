"""Build the static encoder artifact: ``python embeddings/build.py [--out DIR] [--check]``.

A thin wrapper around :func:`gate.embeddings.build.main`; see that module for the method.
Writes ``embeddings/static/`` (gitignored) and the committed ``embeddings/manifest.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gate.embeddings.build import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
