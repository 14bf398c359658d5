"""The proxy's routes file: which HTTP calls are which tools, on which configured upstream.

Loaded whole and refused whole: every problem is listed with its line before anything serves.
Pure (no I/O beyond reading the file): the compiled `RouteTable` matches a request to a
`Route`, extracts the tool arguments, and rebuilds path, query and body from rewritten args.

    upstreams:
      billing:
        url: http://127.0.0.1:9001          # the only hosts the proxy ever talks to
        timeouts: {connect: 2, read: 10, total: 30, stream: 300}
        max_response_bytes: 10485760
        headers: {Authorization: "Bearer upstream-secret"}   # added to every forwarded call
    unknown_routes: block                   # block (default) | forward (to unknown_routes_upstream)
    routes:
      - {method: POST, path: "/v1/refunds/{invoice_id}", tool: issue_refund, upstream: billing}
      - {method: GET, path: "/v1/invoices/{invoice_id}", tool: read_invoice, upstream: billing,
         args: [path, query]}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import jsonschema
import orjson
import yaml

from gate.errors import InvalidRequest, MalformedRequest, PolicyIssue
from gate.policy.loader import fmt_path, line_of, read_yaml
from gate.proxy.errors import RoutesError

__all__ = ["Upstream", "Route", "RouteMatch", "RouteTable", "load_routes", "parse_routes", "ROUTES_SCHEMA"]

_SOURCES = ("path", "query", "body")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

_POS = {"type": "number", "exclusiveMinimum": 0}
ROUTES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["upstreams", "routes"],
    "additionalProperties": False,
    "properties": {
        "upstreams": {
            "type": "object", "minProperties": 1,
            "propertyNames": {"pattern": "^[A-Za-z0-9_.-]+$"},
            "additionalProperties": {
                "type": "object", "required": ["url"], "additionalProperties": False,
                "properties": {
                    "url": {"type": "string"},
                    "timeouts": {"type": "object", "additionalProperties": False,
                                 "properties": {"connect": _POS, "read": _POS, "total": _POS, "stream": _POS}},
                    "max_response_bytes": {"type": "integer", "minimum": 1},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
        "unknown_routes": {"enum": ["block", "forward"]},
        "unknown_routes_upstream": {"type": "string"},
        "max_request_bytes": {"type": "integer", "minimum": 1},
        "observe_max_bytes": {"type": "integer", "minimum": 0},
        "max_connections": {"type": "integer", "minimum": 1},
        "routes": {
            "type": "array",
            "items": {
                "type": "object", "required": ["method", "path", "tool", "upstream"], "additionalProperties": False,
                "properties": {
                    "method": {"enum": _METHODS + [m.lower() for m in _METHODS]},
                    "path": {"type": "string", "pattern": "^/"},
                    "tool": {"type": "string", "minLength": 1},
                    "upstream": {"type": "string"},
                    "args": {"type": "array", "items": {"enum": list(_SOURCES)}, "uniqueItems": True},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Upstream:
    """One configured upstream: the proxy only ever connects to these base URLs."""

    name: str
    url: str                       # scheme://host[:port][/base], no trailing slash
    connect_timeout: float = 2.0
    read_timeout: float = 30.0     # each read of the response
    total_timeout: float = 30.0    # until the response headers arrive
    stream_timeout: float = 300.0  # the whole response body
    max_response_bytes: int = 10 * 1024 * 1024
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Route:
    """`METHOD /path/{param}` is the tool `tool` on `upstream`; args come from `sources`."""

    method: str
    template: str
    tool: str
    upstream: str
    sources: tuple[str, ...]
    params: tuple[str, ...]
    regex: re.Pattern[str] | None   # None for a path without parameters


@dataclass
class RouteMatch:
    """A request matched to a route, with the arguments and where each came from."""

    route: Route
    args: dict[str, Any]
    origin: dict[str, str]                                  # arg name -> "path" | "query" | "body"
    query: list[tuple[str, str]] = field(default_factory=list)  # the query pairs not used as args
    body_object: bool = False                               # the body was a JSON object used as args

    def rebuild(self, args: Mapping[str, Any], body: bytes) -> tuple[str, str, bytes | None]:
        """Path, query string and body (None: unchanged) that carry `args` where they came from."""
        route = self.route
        path_args: dict[str, str] = {}
        query = list(self.query)
        body_args: dict[str, Any] = {}
        for name, value in args.items():
            where = self.origin.get(name) or ("body" if "body" in route.sources else "query")
            if where == "path":
                path_args[name] = value if isinstance(value, str) else orjson.dumps(value).decode()
            elif where == "query":
                for v in value if isinstance(value, list) else [value]:
                    query.append((name, v if isinstance(v, str) else orjson.dumps(v).decode()))
            else:
                body_args[name] = value
        missing = [p for p in route.params if p not in path_args]
        if missing:
            raise InvalidRequest(f"the rewritten call has no value for path parameter(s) {', '.join(missing)}")
        path = _PARAM.sub(lambda m: quote(path_args[m.group(1)], safe=""), route.template)
        new_body: bytes | None = None
        if self.body_object or (body_args and not body):
            new_body = orjson.dumps(body_args)
        return path, urlencode(query), new_body


class RouteTable:
    """Compiled routes: exact paths in a dict, templated ones tried in file order."""

    def __init__(self, upstreams: Mapping[str, Upstream], routes: list[Route], *, unknown_routes: str = "block",
                 unknown_routes_upstream: str | None = None, max_request_bytes: int = 1_000_000,
                 observe_max_bytes: int = 65_536, max_connections: int = 256, source: str = "<routes>") -> None:
        self.upstreams = dict(upstreams)
        self.routes = routes
        self.unknown_routes = unknown_routes
        self.unknown_routes_upstream = unknown_routes_upstream
        self.max_request_bytes = max_request_bytes
        self.observe_max_bytes = observe_max_bytes
        self.max_connections = max_connections
        self.source = source
        self._exact: dict[tuple[str, str], Route] = {}
        self._templated: dict[str, list[Route]] = {}
        for r in routes:
            if r.regex is None:
                self._exact[(r.method, r.template)] = r
            else:
                self._templated.setdefault(r.method, []).append(r)

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for `method path` and its path parameters (URL-decoded), or None."""
        r = self._exact.get((method, path))
        if r is not None:
            return r, {}
        for r in self._templated.get(method, ()):
            m = r.regex.match(path)  # type: ignore[union-attr]
            if m is not None:
                return r, {k: unquote(v) for k, v in m.groupdict().items()}
        return None

    def match(self, method: str, path: str, query_string: bytes, body: bytes) -> RouteMatch | None:
        """Match a request and extract its tool arguments; None for an unknown route."""
        found = self.find(method, path)
        if found is None:
            return None
        route, params = found
        args: dict[str, Any] = {}
        origin: dict[str, str] = {}
        leftover: list[tuple[str, str]] = []
        body_object = False
        for src in route.sources:
            if src == "path":
                for k, v in params.items():
                    args[k] = v
                    origin[k] = "path"
            elif src == "query":
                pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
                grouped: dict[str, Any] = {}
                for k, v in pairs:
                    prev = grouped.get(k)
                    grouped[k] = v if prev is None else (prev + [v] if isinstance(prev, list) else [prev, v])
                for k, v in grouped.items():
                    _take(args, origin, k, v, "query")
            elif src == "body" and body:
                try:
                    data = orjson.loads(body)
                except orjson.JSONDecodeError as exc:
                    raise MalformedRequest(f"the request body is not valid JSON: {exc.msg} at position {exc.pos}") from None
                if not isinstance(data, dict):
                    raise InvalidRequest("the request body must be a JSON object (its fields are the tool arguments)")
                _refuse_duplicate_keys(body, data)
                body_object = True
                for k, v in data.items():
                    _take(args, origin, k, v, "body")
        if "query" not in route.sources and query_string:
            leftover = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        return RouteMatch(route, args, origin, leftover, body_object)


def _take(args: dict[str, Any], origin: dict[str, str], name: str, value: Any, where: str) -> None:
    """Add one argument; the same name from two places with two values is refused: the gate
    would judge one and the upstream might act on the other (`?amount=5000` beside a body
    `{"amount": 50}`)."""
    if name in args and args[name] != value:
        raise MalformedRequest(f"argument {name!r} comes from both the {origin[name]} and the {where} with different "
                               "values; the upstream could act on either, so the request is refused")
    args[name] = value
    origin[name] = where


_KEY_END = re.compile(rb'"\s*:')


def _count_keys(data: Any) -> int:
    stack, n = [data], 0
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            n += len(x)
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return n


def _refuse_duplicate_keys(body: bytes, data: Any) -> None:
    """A JSON object that names one key twice is refused: this parser keeps the last value,
    others keep the first, and the original bytes go upstream on ALLOW, so the gate could judge
    one amount while the tool pays the other. Every key ends in `"` and `:` in the raw text, so
    when those are no more than the keys parsed there is no duplicate and no second parse."""
    if len(_KEY_END.findall(body)) <= _count_keys(data):
        return
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for k, v in items:
            if k in seen:
                raise MalformedRequest(f"the request body names the key {k!r} twice; parsers disagree on which value "
                                       "counts, so the request is refused")
            seen[k] = v
        return seen
    json.loads(body, object_pairs_hook=pairs)


# loading ------------------------------------------------------------------------------------

def _check_url(url: str) -> str | None:
    try:
        u = urlsplit(url)
    except ValueError as exc:
        return f"not a URL: {exc}"
    if u.scheme not in ("http", "https"):
        return "the upstream URL must be http:// or https://"
    if not u.hostname:
        return "the upstream URL has no host"
    if u.username or u.password or u.query or u.fragment:
        return "the upstream URL must not carry credentials, a query or a fragment (use `headers` for auth)"
    return None


def _semantic(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    issues: list[tuple[tuple[Any, ...], str]] = []
    ups = data.get("upstreams") or {}
    for name, up in ups.items():
        why = _check_url(up["url"])
        if why:
            issues.append((("upstreams", name, "url"), why))
    seen: dict[tuple[str, str], int] = {}
    for i, r in enumerate(data.get("routes") or []):
        if r["upstream"] not in ups:
            issues.append((("routes", i, "upstream"), f"unknown upstream {r['upstream']!r} (declared: {', '.join(sorted(ups))})"))
        names = _PARAM.findall(r["path"])
        if len(set(names)) != len(names):
            issues.append((("routes", i, "path"), "a path parameter is named twice"))
        rest = _PARAM.sub("", r["path"])
        if "{" in rest or "}" in rest:
            issues.append((("routes", i, "path"), "path parameters are written {name} (letters, digits, _)"))
        key = (r["method"].upper(), _PARAM.sub("{}", r["path"]))
        if key in seen:
            issues.append((("routes", i, "path"), f"{key[0]} {r['path']} duplicates routes[{seen[key]}]"))
        seen.setdefault(key, i)
    if data.get("unknown_routes") == "forward":
        target = data.get("unknown_routes_upstream")
        if target is None:
            issues.append((("unknown_routes",), "`unknown_routes: forward` needs `unknown_routes_upstream`"))
        elif target not in ups:
            issues.append((("unknown_routes_upstream",), f"unknown upstream {target!r}"))
    return issues


def _compile_route(r: dict[str, Any]) -> Route:
    template = r["path"]
    params = tuple(_PARAM.findall(template))
    regex = None
    if params:
        parts = _PARAM.split(template)
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        regex = re.compile(f"^{pattern}$")
    return Route(r["method"].upper(), template, r["tool"], r["upstream"],
                 tuple(r.get("args") or _SOURCES), params, regex)


def parse_routes(text: str, source: str = "<routes>") -> RouteTable:
    """Validate and compile a routes document; raises `RoutesError` listing every issue by line."""
    try:
        data, lines = read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RoutesError([PolicyIssue(source, mark.line + 1 if mark else 1, "",
                                       f"YAML syntax error: {getattr(exc, 'problem', None) or exc}")]) from None
    except RecursionError:
        raise RoutesError([PolicyIssue(source, 1, "", "the YAML nests too deep for gate to read")]) from None
    if not isinstance(data, dict):
        raise RoutesError([PolicyIssue(source, 1, "", "a routes file must be a YAML mapping with `upstreams` and `routes`")])
    found = [(tuple(e.absolute_path), e.message) for e in jsonschema.Draft202012Validator(ROUTES_SCHEMA).iter_errors(data)]
    if not found:
        found = _semantic(data)
    if found:
        found.sort(key=lambda f: (line_of(lines, f[0]), fmt_path(f[0])))
        raise RoutesError([PolicyIssue(source, line_of(lines, p), fmt_path(p), msg) for p, msg in found])
    ups = {}
    for name, up in data["upstreams"].items():
        t = up.get("timeouts") or {}
        ups[name] = Upstream(
            name=name, url=up["url"].rstrip("/"),
            connect_timeout=float(t.get("connect", 2.0)), read_timeout=float(t.get("read", 30.0)),
            total_timeout=float(t.get("total", 30.0)), stream_timeout=float(t.get("stream", 300.0)),
            max_response_bytes=int(up.get("max_response_bytes", 10 * 1024 * 1024)),
            headers=tuple((k, v) for k, v in (up.get("headers") or {}).items()),
        )
    return RouteTable(
        ups, [_compile_route(r) for r in data["routes"]],
        unknown_routes=data.get("unknown_routes", "block"),
        unknown_routes_upstream=data.get("unknown_routes_upstream"),
        max_request_bytes=int(data.get("max_request_bytes", 1_000_000)),
        observe_max_bytes=int(data.get("observe_max_bytes", 65_536)),
        max_connections=int(data.get("max_connections", 256)),
        source=source,
    )


def load_routes(path: str | Path) -> RouteTable:
    """Read, validate and compile a routes file (raises `RoutesError`)."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RoutesError([PolicyIssue(str(p), 0, "", f"cannot read: {exc}")]) from None
    return parse_routes(text, str(p))
