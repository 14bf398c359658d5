"""How well the static (hot-path) encoder tracks the full model, and what it costs.

Evaluation texts are never used in the fit: the harmful archetypes, the benign anchors, and a
generated set built from the *held-out* word split with a seed the build does not use.
For the static encoder and the naive baseline (plain mean of context-free wordpiece vectors,
no whole words, no fitted map, no corrections) it reports, against the full model:

- Spearman correlation of all pairwise cosines, and their mean absolute error;
- top-1 nearest-neighbour agreement within the set;
- top-1 nearest-archetype agreement for action-like queries (anchors + held-out texts);
- single-text latency p50/p99 for static ``encode_one``, static ``encode([t])`` and full.

Run ``python bench/encoder_quality.py [--artifact DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gate.embeddings.encoders import (  # noqa: E402
    DEFAULT_ARTIFACT_DIR,
    FullEncoder,
    StaticEncoder,
    load_static,
)

DATA = Path(__file__).resolve().parents[1] / "gate" / "data"
HELDOUT_SEED = 2
SANITY = ("read customer invoice", "fetch billing record", "delete all user accounts")


def load_eval_texts(n_heldout: int = 600) -> dict[str, list[str]]:
    """Archetype texts, benign anchors and held-out generated texts."""
    import yaml

    from gate.embeddings import corpus

    archetypes = yaml.safe_load((DATA / "archetypes.yaml").read_text(encoding="utf-8"))["archetypes"]
    anchors = yaml.safe_load((DATA / "benign_anchors.yaml").read_text(encoding="utf-8"))["anchors"]
    return {
        "archetypes": [a["text"] for a in archetypes],
        "anchors": list(anchors),
        "heldout": corpus.generate(n_heldout, HELDOUT_SEED, "heldout"),
    }


def naive_encoder(full: FullEncoder, texts: Sequence[str]) -> StaticEncoder:
    """The model2vec-style baseline: mean of context-free wordpiece vectors, nothing fitted.

    Only the rows the given texts use are computed (the rest stay zero), which is all it needs.
    """
    from tokenizers import Tokenizer

    from gate.embeddings.build import base_tokenizer, token_vectors

    tokenizer = Tokenizer.from_str(json.dumps(base_tokenizer()))
    ids = sorted({i for t in texts for i in tokenizer.encode(t, add_special_tokens=False).ids})
    table = np.zeros((tokenizer.get_vocab_size(), full.dim), dtype=np.float32)
    table[ids] = token_vectors(full, ids)
    return StaticEncoder(tokenizer, table, np.zeros(full.dim, np.float32), name="naive", fingerprint="naive", split_camel=False)


def _offdiag(sim: np.ndarray) -> np.ndarray:
    return sim[np.triu_indices(sim.shape[0], 1)]


def agreement(static: np.ndarray, full: np.ndarray) -> dict[str, float]:
    """Spearman of pairwise cosines, mean absolute cosine error, top-1 neighbour agreement."""
    from scipy.stats import spearmanr

    s_sim, f_sim = static @ static.T, full @ full.T
    s_pairs, f_pairs = _offdiag(s_sim), _offdiag(f_sim)
    np.fill_diagonal(s_sim, -np.inf)
    np.fill_diagonal(f_sim, -np.inf)
    return {
        "spearman": float(spearmanr(s_pairs, f_pairs).statistic),
        "mae": float(np.mean(np.abs(s_pairs - f_pairs))),
        "nn_top1": float(np.mean(s_sim.argmax(1) == f_sim.argmax(1))),
    }


def archetype_top1(q_static: np.ndarray, a_static: np.ndarray, q_full: np.ndarray, a_full: np.ndarray) -> float:
    """Share of queries whose nearest archetype is the same under both encoders."""
    return float(np.mean((q_static @ a_static.T).argmax(1) == (q_full @ a_full.T).argmax(1)))


def quality(encode: Callable[[Sequence[str]], np.ndarray], sets: dict[str, list[str]], full_vecs: dict[str, np.ndarray]) -> dict[str, Any]:
    """All agreement figures of one encoder against the full model's vectors."""
    vecs = {k: encode(v) for k, v in sets.items()}
    report: dict[str, Any] = {k: agreement(vecs[k], full_vecs[k]) for k in sets}
    everything = np.concatenate([vecs[k] for k in sets])
    report["all"] = agreement(everything, np.concatenate([full_vecs[k] for k in sets]))
    queries = np.concatenate([vecs["anchors"], vecs["heldout"]])
    f_queries = np.concatenate([full_vecs["anchors"], full_vecs["heldout"]])
    report["archetype_top1"] = archetype_top1(queries, vecs["archetypes"], f_queries, full_vecs["archetypes"])
    return report


def sanity(encode: Callable[[Sequence[str]], np.ndarray]) -> dict[str, float]:
    """Cosines of the anchor phrase with a related and an unrelated phrase."""
    v = encode(list(SANITY))
    return {"related": float(v[0] @ v[1]), "unrelated": float(v[0] @ v[2]), "ordered": bool(v[0] @ v[1] > v[0] @ v[2])}


def latency_us(fn: Callable[[str], Any], texts: Sequence[str], repeat: int = 1) -> dict[str, float]:
    """p50/p99 in microseconds of ``fn(text)`` over ``texts`` (``repeat`` passes)."""
    samples = []
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter_ns()
            fn(text)
            samples.append(time.perf_counter_ns() - start)
    arr = np.asarray(samples, dtype=np.float64) / 1000.0
    return {"p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99)), "n": float(arr.size)}


def run(artifact: Path) -> dict[str, Any]:
    """Measure everything; returns one JSON-able dict."""
    static = load_static(artifact)
    full = FullEncoder()
    sets = load_eval_texts()
    full_vecs = {k: full.encode(v) for k, v in sets.items()}
    naive = naive_encoder(full, [t for v in sets.values() for t in v] + list(SANITY))
    texts = sets["heldout"][:300] + sets["archetypes"]
    fresh = load_static(artifact)  # cold tokenisation cache for the first pass
    return {
        "static": {"fingerprint": static.fingerprint, "vocab": static.vocab_size, **quality(static.encode, sets, full_vecs)},
        "naive": quality(naive.encode, sets, full_vecs),
        "sanity": {"full": sanity(full.encode), "static": sanity(static.encode), "naive": sanity(naive.encode)},
        "latency_us": {
            "static_encode_one_cold": latency_us(fresh.encode_one, texts),
            "static_encode_one": latency_us(static.encode_one, texts, repeat=5),
            "static_encode": latency_us(lambda t: static.encode([t]), texts, repeat=5),
            "full_encode": latency_us(lambda t: full.encode([t]), texts[:100]),
        },
        "sizes": {k: len(v) for k, v in sets.items()},
    }


def _table(result: dict[str, Any]) -> str:
    rows = [f"{'metric':<34}{'static':>10}{'naive':>10}"]
    for part in ("archetypes", "anchors", "heldout", "all"):
        for metric in ("spearman", "mae", "nn_top1"):
            rows.append(f"{part + ' ' + metric:<34}{result['static'][part][metric]:>10.3f}{result['naive'][part][metric]:>10.3f}")
    rows.append(f"{'nearest-archetype top1 agreement':<34}{result['static']['archetype_top1']:>10.3f}{result['naive']['archetype_top1']:>10.3f}")
    rows.append("")
    rows.append(f"sanity: cos('{SANITY[0]}', '{SANITY[1]}') vs cos(.., '{SANITY[2]}')")
    for enc, s in result["sanity"].items():
        rows.append(f"  {enc:<8} related {s['related']:.3f}  unrelated {s['unrelated']:.3f}  {'OK' if s['ordered'] else 'WRONG ORDER'}")
    rows.append("")
    rows.append(f"{'latency (us, one text)':<34}{'p50':>10}{'p99':>10}")
    for name, lat in result["latency_us"].items():
        rows.append(f"{name:<34}{lat['p50']:>10.1f}{lat['p99']:>10.1f}")
    rows.append(f"\nsets: {result['sizes']}; static vocab {result['static']['vocab']}; {result['static']['fingerprint']}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="static vs full encoder quality and latency")
    parser.add_argument("--artifact", type=Path, default=DEFAULT_ARTIFACT_DIR)
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    args = parser.parse_args(argv)
    result = run(args.artifact)
    print(json.dumps(result, sort_keys=True) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
