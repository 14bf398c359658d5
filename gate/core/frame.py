"""The identity reference frame: an agent's declared identity as vectors, and the shared
library of harmful action archetypes and ordinary-work anchors they are compared with.

Built once at policy load (compile once, evaluate many). Searches on the hot path are a
matrix-vector product: at the sizes a frame has (tens of rows, a few hundred archetypes)
numpy beats FAISS's per-call overhead on this machine (bench/vector_search.py measures
both); the FAISS index is built for every frame too and used above `FAISS_MIN_ROWS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import faiss
import numpy as np

__all__ = ["VectorIndex", "IdentityFrame", "split_sentences", "FAISS_MIN_ROWS"]

# Measured crossover (bench/vector_search.py): below ~1,000 rows numpy is as fast or faster.
FAISS_MIN_ROWS = 1024

_SENT = re.compile(r"(?<=[.!?;])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """Identity text split into statements; each becomes one row of the frame."""
    return [s.strip(" -*\t") for s in _SENT.split(text) if len(s.strip(" -*\t")) > 3]


class VectorIndex:
    """Inner-product index over L2-normalised rows, with labels.

    >>> idx = VectorIndex(np.eye(2, dtype=np.float32), ("a", "b"))
    >>> idx.best(np.array([0.0, 1.0], dtype=np.float32))
    (1.0, 1)
    """

    __slots__ = ("matrix", "labels", "_faiss")

    def __init__(self, matrix: np.ndarray, labels: tuple[str, ...]) -> None:
        if matrix.ndim != 2 or matrix.shape[0] != len(labels):
            raise ValueError("matrix rows and labels must match")
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.labels = labels
        self._faiss: faiss.IndexFlatIP | None = None
        if matrix.shape[0] >= FAISS_MIN_ROWS:
            self._faiss = faiss.IndexFlatIP(matrix.shape[1])
            self._faiss.add(self.matrix)

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def scores(self, vec: np.ndarray) -> np.ndarray:
        return self.matrix @ vec

    def best(self, vec: np.ndarray) -> tuple[float, int]:
        """(highest cosine, row) — (-1.0, -1) for an empty index."""
        n = self.matrix.shape[0]
        if n == 0:
            return -1.0, -1
        if self._faiss is not None:
            d, i = self._faiss.search(vec.reshape(1, -1), 1)
            return float(d[0, 0]), int(i[0, 0])
        s = self.matrix @ vec
        i = int(s.argmax())
        return float(s[i]), i


@dataclass(frozen=True)
class IdentityFrame:
    """One agent's reference frame: identity statements, purposes and tool descriptions."""

    index: VectorIndex
    tool_rows: dict[str, int]      # tool name -> row of its description in `index`

    def resonance(self, vec: np.ndarray) -> tuple[float, str]:
        score, row = self.index.best(vec)
        return score, (self.index.labels[row] if row >= 0 else "")
