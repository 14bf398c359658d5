"""Behaviour of the embedding layer: static encoder, artifact verification, agreement, build determinism.

The static artifact is taken from ``embeddings/static`` when it is there and valid, otherwise it is
built into a temp dir (about a minute), so these tests never skip for a missing artifact.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from gate.embeddings import (
    DEFAULT_ARTIFACT_DIR,
    CachedEncoder,
    EmbeddingArtifactError,
    Encoder,
    StaticEncoder,
    load_full,
    load_static,
)
from gate.embeddings.build import BuildParams, build_static

DATA = Path(__file__).resolve().parents[1] / "gate" / "data"

# Measured on the shipped artifact (bench/encoder_quality.py): Spearman 0.75, MAE 0.09-0.12.
SPEARMAN_FLOOR = 0.65
MAE_CEILING = 0.16

TRIPLES = [
    ("read customer invoice", "fetch billing record", "delete all user accounts"),
    ("send an email to the team", "email my colleagues", "drop the production database"),
    ("run the unit tests", "execute the test suite", "wire money to an offshore account"),
    ("delete all user accounts", "remove every user account", "schedule a meeting"),
    ("grant admin role to a user", "give administrator permissions to the account", "look up the weather forecast"),
    ("issue_refund invoice_id INV-1009 amount 40", "refund the invoice", "cat /etc/shadow"),
]


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        load_static(DEFAULT_ARTIFACT_DIR)
        return DEFAULT_ARTIFACT_DIR
    except EmbeddingArtifactError:
        out = tmp_path_factory.mktemp("static")
        build_static(out)
        return out


@pytest.fixture(scope="session")
def static(artifact_dir: Path) -> StaticEncoder:
    return load_static(artifact_dir)


@pytest.fixture(scope="session")
def eval_texts() -> list[str]:
    archetypes = yaml.safe_load((DATA / "archetypes.yaml").read_text(encoding="utf-8"))["archetypes"]
    anchors = yaml.safe_load((DATA / "benign_anchors.yaml").read_text(encoding="utf-8"))["anchors"]
    return [a["text"] for a in archetypes] + list(anchors)


def test_static_is_an_encoder(static: StaticEncoder) -> None:
    assert isinstance(static, Encoder)
    assert static.dim == 384
    assert static.fingerprint.startswith("sha256:") and len(static.fingerprint) == 71


def test_static_shape_normalisation_and_empty(static: StaticEncoder) -> None:
    texts = ["read customer invoice", "send_email to bob@evil.example subject payroll export", "", "   "]
    vecs = static.encode(texts)
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    assert not np.isnan(vecs).any()
    np.testing.assert_allclose(np.linalg.norm(vecs[:2], axis=1), 1.0, atol=1e-5)
    assert not vecs[2:].any()
    assert static.encode([]).shape == (0, 384)
    one = static.encode_one("read customer invoice")
    assert one.shape == (384,) and one.dtype == np.float32
    np.testing.assert_allclose(one, vecs[0], atol=1e-6)


def test_static_is_deterministic(static: StaticEncoder, artifact_dir: Path) -> None:
    texts = ["mcp__github__create_issue title bug", "API_CALL:bank_transfer amount 990000", "getUserAccounts"]
    again = load_static(artifact_dir)
    np.testing.assert_array_equal(static.encode(texts), again.encode(texts))
    np.testing.assert_array_equal(static.encode_one(texts[0]), again.encode_one(texts[0]))


def test_camel_case_is_split(static: StaticEncoder) -> None:
    np.testing.assert_allclose(static.encode_one("getUserAccounts"), static.encode_one("get User Accounts"), atol=1e-6)


def test_cached_encoder_matches_inner(static: StaticEncoder) -> None:
    cached = CachedEncoder(static, maxsize=2)
    texts = ["a b", "read invoice", "a b", "drop table users"]
    np.testing.assert_allclose(cached.encode(texts), static.encode(texts), atol=1e-6)
    np.testing.assert_allclose(cached.encode_one("read invoice"), static.encode_one("read invoice"), atol=1e-6)
    assert cached.fingerprint == static.fingerprint


@pytest.mark.parametrize(("anchor", "related", "unrelated"), TRIPLES)
def test_static_orders_related_above_unrelated(static: StaticEncoder, anchor: str, related: str, unrelated: str) -> None:
    a, r, u = static.encode([anchor, related, unrelated])
    assert a @ r > a @ u


def _copy(artifact_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "static"
    shutil.copytree(artifact_dir, dst)
    return dst


def test_tampered_artifact_is_refused(artifact_dir: Path, tmp_path: Path) -> None:
    dst = _copy(artifact_dir, tmp_path)
    target = dst / "embeddings.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(EmbeddingArtifactError, match=r"embeddings\.npy.*python embeddings/build\.py"):
        load_static(dst)


def test_missing_artifact_file_is_refused(artifact_dir: Path, tmp_path: Path) -> None:
    dst = _copy(artifact_dir, tmp_path)
    (dst / "tokenizer.json").unlink()
    with pytest.raises(EmbeddingArtifactError, match=r"tokenizer\.json.*missing"):
        load_static(dst)


def test_missing_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingArtifactError, match="manifest"):
        load_static(tmp_path)


def test_manifest_records_model_and_checksums(artifact_dir: Path) -> None:
    manifest = json.loads((artifact_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["source_model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert len(manifest["source_model"]["sha256"]) == 64
    assert manifest["dim"] == 384 and manifest["vocab_size"] > 30522
    assert set(manifest["files"]) == {"tokenizer.json", "embeddings.npy", "bias.npy", "config.json"}


def test_full_and_static_agree(static: StaticEncoder, eval_texts: list[str]) -> None:
    from scipy.stats import spearmanr

    full = load_full()
    assert full.fingerprint.startswith("sha256:")
    f = full.encode(eval_texts)
    s = static.encode(eval_texts)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    iu = np.triu_indices(len(eval_texts), 1)
    f_pairs, s_pairs = (f @ f.T)[iu], (s @ s.T)[iu]
    assert spearmanr(f_pairs, s_pairs).statistic > SPEARMAN_FLOOR
    assert float(np.mean(np.abs(f_pairs - s_pairs))) < MAE_CEILING


def test_tiny_build_is_deterministic(tmp_path: Path) -> None:
    params = BuildParams(corpus_size=300, vocab_limit=1200)
    first = build_static(tmp_path / "a", params)
    second = build_static(tmp_path / "b", params)
    assert first["files"] == second["files"]
    enc = load_static(tmp_path / "a")
    assert enc.encode(["read customer invoice"]).shape == (1, 384)


def test_raw_encoding_points_where_the_unit_encoding_does(static: StaticEncoder) -> None:
    texts = ["send customer email to subject invoice", "x", "", "word " * 300, "kubectl get pods -n payments"]
    for text in texts:
        raw, length = static.encode_raw(text)
        unit = static.encode_one(text)
        if not text.strip():
            assert length == 0.0 and not raw.any()
            continue
        assert length == pytest.approx(float(np.linalg.norm(raw)), rel=1e-5)
        np.testing.assert_allclose(raw / length, unit, atol=2e-6)


def test_python_wordpiece_gives_the_rust_tokenizers_ids(static: StaticEncoder, eval_texts: list[str]) -> None:
    """The hot path tokenises printable ASCII with a Python WordPiece (`AsciiWordPiece`); its ids
    must be exactly the Rust tokenizer's, on real texts and on made-up, long and odd words."""
    import random
    import string

    wp, rust = static._wordpiece, static._tokenizer
    assert wp is not None
    rng = random.Random(13)
    texts = list(eval_texts) + [
        "kubectl get secret orders-db-credentials -n orders -o jsonpath={.data.password}",
        "SELECT email, phone FROM prod.customers WHERE id = 42; DROP TABLE x;--",
        "https://u:pw@host.example:8443/a/b?c=d&e=%20f #frag",
        "getUserAccounts API_CALL:bank_transfer mcp__github__create_issue",
        "a" * 99, "b" * 100, "c" * 101, "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "telecommunications deforestation misappropriation exfiltration",   # the longest pieces of each kind
        "", " ", "\t\n", "!!!", "x1y2z3 0x0st 1e-9 3.14159",
    ]
    alphabet = string.ascii_letters + string.digits + string.punctuation + "  \t"
    for _ in range(1500):
        texts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))))
    for _ in range(500):
        texts.append(" ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 24)))
                              for _ in range(rng.randint(1, 6))))
    for text in texts:
        assert wp.ids(text) == rust.encode(text, add_special_tokens=False).ids, text
    assert wp.ids("naïve café") is None          # not ASCII: the caller falls back to the Rust tokenizer
