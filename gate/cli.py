"""Command line: `gate serve`, `gate check`, `gate policy lint|schema`, `gate replay`, `gate audit verify`,
`gate eval`, `gate embeddings build|check`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import orjson

__all__ = ["main", "build_parser"]


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from gate.settings import Settings

    kw = {"policies": Path(args.policies)} if getattr(args, "policies", None) else {}
    for name in ("host", "port", "store", "redis_url"):
        if getattr(args, name, None) is not None:
            kw[name] = getattr(args, name)
    if getattr(args, "audit", None) is not None:
        kw["audit_path"] = None if args.audit in ("", "off", "none") else Path(args.audit)
    if getattr(args, "mode", None) is not None:
        kw["mode"] = args.mode
    if getattr(args, "reload_interval", None) is not None:
        kw["reload_interval_s"] = args.reload_interval
    if getattr(args, "reload_token", None) is not None:
        kw["reload_token"] = args.reload_token or None
    for flag in ("body_timeout", "header_timeout"):
        if getattr(args, flag, None) is not None:
            kw[f"{flag}_s"] = getattr(args, flag)
    kw.update(extra)
    return Settings.from_env(**kw)


def load_gate(args: argparse.Namespace, **extra: Any) -> Any:
    from gate.errors import PolicyError
    from gate.embeddings.encoders import EmbeddingArtifactError
    from gate.gate import Gate

    try:
        settings = _settings(args, **extra)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        return Gate.from_policies(settings.policies, settings)
    except PolicyError as exc:
        print(exc.message, file=sys.stderr)
        raise SystemExit(2) from None
    except EmbeddingArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(3) from None


def cmd_serve(args: argparse.Namespace) -> int:
    import time

    import uvicorn

    from gate.server import create_app

    t0 = time.perf_counter()
    gate = load_gate(args)
    ok, why = gate.ready()
    import gc

    gc.collect()
    gc.freeze()   # the compiled bundle and model tables are long-lived: keep them out of GC passes
    print(f"gate: {len(gate.bundle.agents)} agent(s), revision {gate.revision}, model {gate.bundle.model}", file=sys.stderr)
    print(f"gate: cascade {gate.cascade.describe()}", file=sys.stderr)
    print(f"gate: ready={ok} ({why}) in {time.perf_counter() - t0:.2f}s; serving on http://{gate.settings.host}:{gate.settings.port}", file=sys.stderr)
    # No access log (it cost a third of the throughput), no proxy-header rewriting, no Server/Date
    # headers: the gate speaks for itself in its JSON.
    uvicorn.run(create_app(gate), host=gate.settings.host, port=gate.settings.port, access_log=False,
                proxy_headers=False, server_header=False, date_header=False,
                log_level="warning", http=http_protocol(gate.settings), loop="uvloop" if has_module("uvloop") else "asyncio")
    return 0


def has_module(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def http_protocol(settings: Any) -> Any:
    """The uvicorn HTTP protocol of every gate server (`serve`, `proxy`, `mcp http`): httptools
    when installed, else h11, with the request-header deadline `settings.header_timeout_s`."""
    from gate.deadlines import header_deadline_protocol

    return header_deadline_protocol(settings.header_timeout_s, "httptools" if has_module("httptools") else "h11")


def add_deadline_flags(p: argparse.ArgumentParser) -> None:
    """`--body-timeout` and `--header-timeout`, for every command that serves HTTP."""
    p.add_argument("--body-timeout", type=float, dest="body_timeout",
                   help="seconds for a request body to arrive whole, else 408 (default 10; GATE_BODY_TIMEOUT_S)")
    p.add_argument("--header-timeout", type=float, dest="header_timeout",
                   help="seconds for a request's headers to arrive whole, else 408 and the connection is closed "
                        "(default 10; GATE_HEADER_TIMEOUT_S)")


def cmd_check(args: argparse.Namespace) -> int:
    from gate.errors import RequestError

    try:
        raw = sys.stdin.buffer.read() if args.request == "-" else Path(args.request).read_bytes()
        body = orjson.loads(raw)
    except (OSError, orjson.JSONDecodeError) as exc:
        print(f"error: cannot read the request: {exc}", file=sys.stderr)
        return 2
    gate = load_gate(args, audit_path=None)
    requests = body if isinstance(body, list) else [body]
    if not requests:
        # nothing decided is no verdict: never a silent success (with --exit-code, a pass)
        print("error: the request file holds an empty list; give one request or a list of them", file=sys.stderr)
        return 2
    worst = 0
    for req in requests:
        try:
            d = gate.check(req, via="cli")
        except RequestError as exc:
            print(json.dumps(exc.to_wire()), file=sys.stderr)
            return 2
        sys.stdout.write(orjson.dumps(d.to_dict(trail=args.trail), option=orjson.OPT_INDENT_2).decode() + "\n")
        worst = max(worst, 1 if d.decision == "BLOCK" and args.exit_code else 0)
    return worst


def cmd_lint(args: argparse.Namespace) -> int:
    from gate.errors import PolicyError
    from gate.policy.loader import load_policies

    try:
        pols = load_policies(args.directory)
    except PolicyError as exc:
        for issue in exc.issues:
            print(str(issue))
        print(f"{len(exc.issues)} error(s)")
        return 1
    from gate.policy.regex import backtracking_report

    for p in pols:
        n = "no tool list" if p.tools is None else f"{len(p.tools)} tool(s)"
        print(f"ok  {p.source}: agent {p.agent} ({n})")
        for line in backtracking_report(p):
            print(f"warning  {p.source}: {line}")
    return 0


def cmd_policy_test(args: argparse.Namespace) -> int:
    from gate.policy.suite import SuiteError, junit_xml, load_tests, run_tests

    try:
        tests = load_tests(args.tests)
    except SuiteError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) in the test files")
        return 2
    gate = load_gate(args, audit_path=None)
    results = run_tests(gate, tests)
    failed = [r for r in results if not r.passed]
    for r in results:
        if r.passed and not args.quiet:
            print(f"ok    {r.test.where}: {r.test.name}")
        elif not r.passed:
            print(f"FAIL  {r.test.where}: {r.test.name}")
            for problem in r.problems:
                print(f"      {problem}")
            if r.test.rationale:
                print(f"      ({r.test.rationale})")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if args.junit:
        Path(args.junit).write_bytes(junit_xml(results))
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    from gate.policy.loader import policy_schema

    print(json.dumps(policy_schema(), indent=2))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from gate.replay import replay_file

    gate = load_gate(args, audit_path=None)
    report = replay_file(gate, Path(args.log))
    print(json.dumps(report, indent=2))
    return 0 if report["mismatched"] == 0 else 1


def cmd_audit_verify(args: argparse.Namespace) -> int:
    import os

    from gate.audit import verify_logs

    key = os.environ.get(args.key_env) or None
    report = verify_logs([Path(p) for p in args.logs], key.encode() if key else None)
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


def cmd_eval(args: argparse.Namespace) -> int:
    from gate.evaluation.cli import run_eval

    return run_eval(args)


def cmd_embeddings(args: argparse.Namespace) -> int:
    from gate.embeddings.build import main as build_main

    argv = ["--check"] if args.action == "check" else []
    if args.out:
        argv += ["--out", args.out]
    return int(build_main(argv) or 0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gate", description="Deterministic pre-execution safety gate for AI agents.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve the check API")
    s.add_argument("--policies", required=True)
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--store", choices=["memory", "redis"])
    s.add_argument("--redis-url", dest="redis_url")
    s.add_argument("--audit", help="audit log path ('off' to disable)")
    s.add_argument("--reload-interval", type=float, dest="reload_interval", help="seconds between policy directory polls")
    s.add_argument("--reload-token", dest="reload_token",
                   help="Bearer token POST /v1/reload requires (unset: loopback clients only); "
                        "GATE_RELOAD_TOKEN keeps it out of the process list")
    s.add_argument("--mode", choices=["enforce", "dry-run"], help="dry-run: decide, log and count every call, but let it run")
    add_deadline_flags(s)
    s.set_defaults(fn=cmd_serve)

    c = sub.add_parser("check", help="print the verdict JSON of one request (or a JSON list of requests, one session)")
    c.add_argument("--policies", required=True)
    c.add_argument("request", help="request JSON file, or - for stdin")
    c.add_argument("--trail", action="store_true", help="include every check's verdict")
    c.add_argument("--exit-code", action="store_true", help="exit 1 when a call is blocked")
    c.set_defaults(fn=cmd_check)

    pol = sub.add_parser("policy", help="policy tools")
    psub = pol.add_subparsers(dest="policy_command", required=True)
    lint = psub.add_parser("lint", help="validate a policies directory; list every error by file and line")
    lint.add_argument("directory")
    lint.set_defaults(fn=cmd_lint)
    pt = psub.add_parser("test", help="run policy tests: calls and the decision each must get (exit 1 on a failure)")
    pt.add_argument("tests", nargs="+", help="test files or directories of *.yaml test files")
    pt.add_argument("--policies", required=True)
    pt.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    pt.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML (for CI test reports)")
    pt.set_defaults(fn=cmd_policy_test)
    sch = psub.add_parser("schema", help="print the policy JSON Schema")
    sch.set_defaults(fn=cmd_schema)

    r = sub.add_parser("replay", help="re-decide an audit log and report decisions that differ")
    r.add_argument("--policies", required=True)
    r.add_argument("log")
    r.set_defaults(fn=cmd_replay)

    au = sub.add_parser("audit", help="audit log tools")
    ausub = au.add_subparsers(dest="audit_command", required=True)
    av = ausub.add_parser("verify", help="check an audit log's hash chain: every edited, removed, inserted or reordered "
                                         "line is reported (exit 1 on any problem)")
    av.add_argument("logs", nargs="+", help="log files, oldest first (a rotated log, then its successor)")
    av.add_argument("--key-env", default="GATE_AUDIT_KEY",
                    help="environment variable holding the chain's HMAC key (default GATE_AUDIT_KEY)")
    av.set_defaults(fn=cmd_audit_verify)

    e = sub.add_parser("eval", help="run the labelled benchmark")
    e.add_argument("--split", choices=["dev", "test", "all"], default="test")
    e.add_argument("--json", action="store_true", help="end with one JSON line of the headline figures")
    e.add_argument("--bench", default="bench", help="benchmark folder (policies/, cases/, traces/)")
    e.add_argument("--out", default="bench/results", help="folder for the Markdown report and PNG chart")
    e.add_argument("--no-baselines", action="store_true")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(fn=cmd_eval)

    emb = sub.add_parser("embeddings", help="build or verify the hot-path encoder artefact")
    emb.add_argument("action", choices=["build", "check"])
    emb.add_argument("--out")
    emb.set_defaults(fn=cmd_embeddings)

    # Sidecar modes register their own subcommands (gate/proxy, gate/mcp).
    from gate.proxy.cli import register as register_proxy
    from gate.mcp.cli import register as register_mcp

    register_proxy(sub)
    register_mcp(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
