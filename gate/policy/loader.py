"""Load policy files, validate them whole, and report every issue by file and line.

A directory loads only if every file in it is valid: `load_policies` collects all issues
from all files and raises one `PolicyError` listing them, so a running gate can keep its
last good policies and say exactly why a reload was refused.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import yaml

from gate.errors import PolicyError, PolicyIssue
from gate.policy.model import AgentPolicy, Constraint, DenyRule, Quota, StepMatch, ToolEffect, ToolSpec

__all__ = ["policy_schema", "load_policy_file", "load_policies", "yaml_lines", "line_of", "fmt_path", "compile_args_schema"]

_REVERSIBLE = {True: "yes", False: "no", "yes": "yes", "no": "no", "partial": "partial"}

# libyaml's parser where PyYAML was built with it (its wheels are): the same nodes and marks as the
# pure-Python parser, and several times faster, which a gate loading a thousand policies feels.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load(text)`, with libyaml's parser where PyYAML has it (the same data, about six
    times faster: the benchmark's files took 80 s the pure-Python way and 13 s this way)."""
    return yaml.load(text, Loader=_YAML_LOADER)


def compose_yaml(text: str) -> yaml.Node | None:
    """The YAML document of `text` as nodes, with their line marks (safe tags only)."""
    return yaml.compose(text, Loader=_YAML_LOADER)


def construct_yaml(node: yaml.Node) -> Any:
    """The Python data of a composed document, as `yaml.safe_load` gives it, without parsing the
    text again. Merge keys (`<<: *base`) are flattened into `node` as the constructor goes: take
    `yaml_lines(node)` first."""
    return yaml.constructor.SafeConstructor().construct_document(node)


def read_yaml(text: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """The data of a YAML document and the line of each of its paths, parsed once (libyaml where
    it is built). Raises `yaml.YAMLError` for text that is not YAML; `RecursionError` for nesting
    deeper than Python's stack."""
    node = compose_yaml(text)
    if node is None:
        return None, {}
    try:
        lines = yaml_lines(node)        # before constructing, which flattens merge keys in `node`
    except TypeError:
        lines = {}                      # a key that is a list or mapping: the constructor refuses it
    return construct_yaml(node), lines


@lru_cache(maxsize=1)
def policy_schema() -> dict[str, Any]:
    """The policy JSON Schema (also published as policies/policy.schema.json)."""
    text = resources.files("gate.data").joinpath("policy.schema.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(policy_schema())


@lru_cache(maxsize=1)
def _quick_validator() -> Any:
    """The policy schema on jsonschema-rs: a yes/no that is many times quicker. A document it
    accepts has no schema error; one it refuses, or cannot take (a value JSON cannot hold), is
    read by `_validator`, whose errors carry the paths the messages need."""
    return jsonschema_rs.validator_for(policy_schema(), offline=True)


def _schema_errors(data: Any) -> list[Any]:
    """Every schema error of a policy document, ordered by path."""
    try:
        if _quick_validator().is_valid(data):
            return []
    except (ValueError, TypeError, OverflowError):
        pass
    return sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))


def yaml_lines(node: yaml.Node | None) -> dict[tuple[Any, ...], int]:
    """1-based line of every mapping key and sequence item of a composed YAML document, by its
    path (`("tools", 1, "constraints")`): what a `file:line` error message points at."""
    out: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _line_map(node, (), out)
    return out


def _line_map(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value
            out[path + (k,)] = key.start_mark.line + 1
            _line_map(value, path + (k,), out)
            out[path + (k,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, path + (i,), out)


MAX_VALUES = 100_000   # values a policy document may hold once its aliases are expanded
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _document_issues(text: str, root: yaml.Node) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """`_node_issues`, walked more cheaply where `text` holds no `&`: without an anchor there is
    no alias, so the nodes form a tree with no cycle, and its size is its count of nodes."""
    if "&" in text:
        return _node_issues(root)
    dups: list[tuple[int, str]] = []
    count = 0
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
            _duplicate_keys(node, dups)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    if count > MAX_VALUES:
        return _node_issues(root)    # the full walk names the node where the count crossed
    return [], dups


def _node_issues(root: yaml.Node) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """What is wrong with a composed YAML document before it is constructed, as (line,
    message) lists: (fatal, other). Fatal: an alias inside the node it names (a cycle) or
    aliases expanding to more than MAX_VALUES values (a "billion laughs"); either would
    make the checks below loop or run for ever. Other: a key given twice in one mapping
    (YAML keeps the last silently). Walked without recursion, each distinct node once."""
    size: dict[int, int] = {}
    open_: set[int] = set()          # nodes being walked: the current node's ancestors
    dups: list[tuple[int, str]] = []
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if isinstance(node, yaml.MappingNode):
            children = [n for kv in node.value for n in kv]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if done:
            open_.discard(nid)
            size[nid] = 1 + sum(size[id(c)] for c in children)
            if size[nid] > MAX_VALUES:
                return [(node.start_mark.line + 1, f"aliases expand this document past {MAX_VALUES:,} values")], dups
            continue
        if nid in size:
            continue
        open_.add(nid)
        stack.append((node, True))
        for i, c in enumerate(children):
            if id(c) in open_:
                # an alias node is the anchored node itself: point at the key (or list) that holds it
                at = children[i - 1] if isinstance(node, yaml.MappingNode) and i % 2 else node
                return [(at.start_mark.line + 1, "an alias refers to a node that contains it (a recursive structure)")], dups
            if id(c) not in size:
                stack.append((c, False))
        if isinstance(node, yaml.MappingNode):
            _duplicate_keys(node, dups)
    return [], dups


def _duplicate_keys(node: yaml.MappingNode, dups: list[tuple[int, str]]) -> None:
    """Append (line, message) for each key given twice in one mapping (YAML keeps the last)."""
    first: dict[Any, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
            continue
        line = key.start_mark.line + 1
        if key.value in first:
            dups.append((line, f"duplicate key {key.value!r} (first on line {first[key.value]}); "
                               "YAML would keep only the last"))
        else:
            first[key.value] = line


_FLOAT_MAX = 1.7976931348623157e308


def _value_issues(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Values JSON cannot hold, which YAML reads without complaint: keys that are not text
    (`5:`, `yes:`, `~:`), numbers that are not finite or beyond a 64-bit float (`.nan`,
    `.inf`, 10^400), dates, binary and sets. Walked without recursion."""
    issues: list[tuple[tuple[Any, ...], str]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, dict):
            for k, x in v.items():
                if not isinstance(k, str):
                    issues.append((path + (k,), f"key {k!r} is not text: YAML read it as {type(k).__name__}; quote it"))
                stack.append((path + (k,), x))
        elif isinstance(v, list):
            stack.extend((path + (i,), x) for i, x in enumerate(v))
        elif isinstance(v, float) and not abs(v) <= _FLOAT_MAX:
            issues.append((path, f"{v!r} is not a finite number"))
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > _FLOAT_MAX:
            issues.append((path, "the number is beyond the range of a 64-bit float"))
        elif not isinstance(v, (str, int, float, bool, type(None))):
            issues.append((path, f"a {type(v).__name__} is not a JSON value (quote it to make it text)"))
    return issues


def compile_args_schema(schema: dict[str, Any]) -> Any:
    """A tool's `args_schema` as a jsonschema-rs validator. Offline: a `$ref` to a URL or
    a file is refused, never fetched or read. Raises ValueError naming the problem."""
    return jsonschema_rs.validator_for(schema, offline=True)


def line_of(lines: dict[tuple[Any, ...], int], path: tuple[Any, ...]) -> int:
    """The line of `path`, or of its nearest ancestor that has one."""
    p = tuple(path)
    while p and p not in lines:
        p = p[:-1]
    return lines.get(p, 1)


def fmt_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _args_schema_problem(schema: Any) -> str | None:
    """What is wrong with a tool's `args_schema` (not a valid JSON Schema, or one gate cannot
    compile), or None. Many policies repeat the same schemas: the answer is remembered by the
    schema's JSON text when it has one (a schema holding values JSON cannot, which
    `_value_issues` reports, is checked afresh)."""
    try:
        key = json.dumps(schema, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return _check_args_schema(schema)
    if len(key) > 65536 or json.loads(key) != schema:    # (a key `5:` would come back as "5")
        return _check_args_schema(schema)
    return _checked_args_schema(key)


@lru_cache(maxsize=1024)
def _checked_args_schema(key: str) -> str | None:
    return _check_args_schema(json.loads(key))


def _check_args_schema(schema: Any) -> str | None:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"invalid JSON Schema: {exc.message}"
    try:
        if not _value_issues(schema):     # else those are reported, once
            compile_args_schema(schema)
    except (ValueError, TypeError, OverflowError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"JSON Schema gate cannot compile: {first}"
    return None


def _semantic_issues(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Checks JSON Schema cannot express: regexes compile, tool names unique, min <= max."""
    issues: list[tuple[tuple[Any, ...], str]] = []
    seen: set[str] = set()
    for ti, tool in enumerate(data.get("tools") or []):
        name = tool.get("name")
        if name in seen:
            issues.append((("tools", ti, "name"), f"duplicate tool name {name!r}"))
        seen.add(name)
        schema = tool.get("args_schema")
        if schema is not None:
            problem = _args_schema_problem(schema)
            if problem is not None:
                issues.append((("tools", ti, "args_schema"), problem))
        for ci, con in enumerate(tool.get("constraints") or []):
            at = ("tools", ti, "constraints", ci)
            pats = ([con["pattern"]] if "pattern" in con else []) + list(con.get("pattern_deny") or [])
            for pat in pats:
                try:
                    re.compile(pat)
                except re.error as exc:
                    issues.append((at, f"invalid regex {pat!r}: {exc}"))
            if "min" in con and "max" in con and con["min"] > con["max"]:
                issues.append((at, f"min {con['min']} is greater than max {con['max']}"))
            if con.get("on_violation") == "clamp" and "min" not in con and "max" not in con:
                issues.append((at, "on_violation: clamp needs min or max"))
            if con.get("on_violation") == "drop" and not (
                "domains_allow" in con or "domains_deny" in con or "max_items" in con or "enum" in con
            ):
                issues.append((at, "on_violation: drop needs domains_allow, domains_deny, enum or max_items"))
    from gate.core.detectors import DANGER_CODES

    for oi, code in enumerate(data.get("allow_operations") or []):
        if code not in DANGER_CODES:
            issues.append((("allow_operations", oi), f"unknown operation code {code!r} (known: {', '.join(sorted(DANGER_CODES))})"))
    for ri, rule in enumerate(data.get("deny") or []):
        if "tool" not in rule and "when" not in rule:
            issues.append((("deny", ri), "a deny rule needs `tool`, `when` or both"))
        for arg, cond in (rule.get("when") or {}).items():
            if isinstance(cond, dict) and "matches" in cond:
                try:
                    re.compile(cond["matches"])
                except re.error as exc:
                    issues.append((("deny", ri, "when", arg), f"invalid regex: {exc}"))
        if isinstance(rule.get("unless_task"), str):
            try:
                re.compile(rule["unless_task"])
            except re.error as exc:
                issues.append((("deny", ri, "unless_task"), f"invalid regex: {exc}"))
        for key in ("after", "unless_after"):
            step = rule.get(key)
            if not isinstance(step, dict):
                continue
            for arg, cond in (step.get("when") or {}).items():
                if isinstance(cond, dict) and isinstance(cond.get("matches"), str):
                    try:
                        re.compile(cond["matches"])
                    except re.error as exc:
                        issues.append((("deny", ri, key, "when", arg), f"invalid regex: {exc}"))
            if isinstance(step.get("result_matches"), str):
                try:
                    re.compile(step["result_matches"])
                except re.error as exc:
                    issues.append((("deny", ri, key, "result_matches"), f"invalid regex: {exc}"))
    # a flow rule's session marks and a quota's counters are keyed by its id: two with one id would share them
    for key, what in (("deny", "deny rule"), ("quotas", "quota")):
        ids: dict[str, int] = {}
        for ri, rule in enumerate(data.get(key) or []):
            rid = rule.get("id")
            if key == "deny" and not rid:
                rid = f"deny-{ri}"   # the id an unnamed deny rule gets: a named rule may not take it
            if isinstance(rid, str):
                if rid in ids:
                    issues.append(((key, ri, "id") if rule.get("id") else (key, ri),
                                   f"duplicate {what} id {rid!r} (first at {key}[{ids[rid]}]; an unnamed deny rule "
                                   f"is `deny-<its index>`)"))
                ids.setdefault(rid, ri)
    for qi, quota in enumerate(data.get("quotas") or []):
        at = ("quotas", qi)
        if ("sum" in quota) != ("max_total" in quota):
            issues.append((at, "`sum` and `max_total` go together: the argument to add up, and the cap on its total"))
        if quota.get("on_violation") == "clamp" and "max_total" not in quota:
            issues.append((at, "on_violation: clamp needs sum and max_total (it cuts the summed argument)"))
        for arg, cond in (quota.get("when") or {}).items():
            if isinstance(cond, dict) and isinstance(cond.get("matches"), str):
                try:
                    re.compile(cond["matches"])
                except re.error as exc:
                    issues.append((("quotas", qi, "when", arg), f"invalid regex: {exc}"))
        agent_wide = quota.get("per") == "agent"
        if agent_wide and "window" not in quota:
            issues.append((at, "per: agent needs a `window` (e.g. 1h, 24h, 7d): the agent's counters reset every window"))
        elif "window" in quota and not agent_wide:
            issues.append((("quotas", qi, "window"), "`window` applies to per: agent quotas (a session quota lasts as long as its session)"))
        elif agent_wide and isinstance(quota.get("window"), str):
            try:
                parse_window(quota["window"])
            except ValueError as exc:
                issues.append((("quotas", qi, "window"), str(exc)))
    prov = data.get("provenance")
    if isinstance(prov, dict) and isinstance(prov.get("trusted_tools"), list) and isinstance(prov.get("untrusted_tools"), list):
        both = set(prov["trusted_tools"]) & set(prov["untrusted_tools"])
        for ti, glob in enumerate(prov["trusted_tools"]):
            if glob in both:
                issues.append((("provenance", "trusted_tools", ti), f"{glob!r} is listed as both trusted and untrusted"))
    return issues


_WINDOW_RX = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_WINDOW_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_S = 366 * 86400


def parse_window(text: str) -> int:
    """A quota window in seconds: `90s`, `15m`, `24h`, `7d` (1 second to 366 days).

    >>> parse_window("24h")
    86400
    """
    m = _WINDOW_RX.match(str(text))
    if not m:
        raise ValueError(f"window {text!r} is not a duration such as 90s, 15m, 24h or 7d")
    seconds = int(m.group(1)) * _WINDOW_UNIT[m.group(2)]
    if not 1 <= seconds <= MAX_WINDOW_S:
        raise ValueError(f"window {text!r} must be between 1 second and 366 days")
    return seconds


def _globs_of(value: Any) -> tuple[str, ...] | None:
    """A `tool` field: one glob or a list of globs."""
    return (value,) if isinstance(value, str) else tuple(value) if value else None


def _conditions(when: Any) -> tuple[tuple[str, str, Any], ...]:
    return tuple((arg, op, val) for arg, cond in (when or {}).items() for op, val in cond.items())


def _step(data: Any) -> StepMatch | None:
    if not isinstance(data, dict):
        return None
    return StepMatch(tool=_globs_of(data.get("tool")), when=_conditions(data.get("when")),
                     result_matches=data.get("result_matches"))


def _build(data: dict[str, Any], source: str) -> AgentPolicy:
    tools: tuple[ToolSpec, ...] | None = None
    if "tools" in data and data["tools"] is not None:
        specs = []
        for t in data["tools"]:
            eff = t.get("effect") or {}
            rev = eff.get("reversible")
            effect = ToolEffect(
                verb=eff.get("verb"),
                sensitivity="none" if eff.get("sensitivity") == "public" else eff.get("sensitivity"),
                destination=eff.get("destination"),
                reversible=_REVERSIBLE[rev] if rev is not None else None,
            )
            cons = []
            for c in t.get("constraints") or []:
                kw = dict(c)
                for key in ("enum", "domains_allow", "domains_deny", "paths_allow", "paths_deny", "pattern_deny"):
                    if key in kw:
                        kw[key] = tuple(kw[key])
                cons.append(Constraint(**kw))
            specs.append(
                ToolSpec(
                    name=t["name"],
                    description=t.get("description") or "",
                    effect=effect,
                    args_schema=t.get("args_schema"),
                    constraints=tuple(cons),
                )
            )
        tools = tuple(specs)
    deny = []
    for i, r in enumerate(data.get("deny") or []):
        deny.append(
            DenyRule(
                id=r.get("id") or f"deny-{i}",
                tool=_globs_of(r.get("tool")),
                when=_conditions(r.get("when")),
                message=r.get("message") or "denied by policy rule",
                unless_task=r.get("unless_task"),
                after=_step(r.get("after")),
                unless_after=_step(r.get("unless_after")),
            )
        )
    quotas = tuple(
        Quota(id=q["id"], tool=_globs_of(q["tool"]) or (), when=_conditions(q.get("when")), max_calls=q.get("max_calls"),
              sum=q.get("sum"), max_total=float(q["max_total"]) if "max_total" in q else None,
              on_violation=q.get("on_violation", "block"), message=q.get("message"), per=q.get("per", "session"),
              window_s=parse_window(q["window"]) if "window" in q else None)
        for q in data.get("quotas") or ())
    red = data.get("redaction") or {}
    return AgentPolicy(
        agent=data["agent"],
        identity=data["identity"].strip(),
        source=source,
        purposes=tuple(data.get("purposes") or ()),
        task_category=data.get("task_category") or "general",
        internal_domains=tuple(d.lower().lstrip("@.") for d in data.get("internal_domains") or ()),
        tools=tools,
        deny=tuple(deny),
        redact_secrets=red.get("secrets", "rewrite"),
        redact_pii=red.get("pii", "rewrite"),
        thresholds=dict(data.get("thresholds") or {}),
        risk=dict(data.get("risk") or {}),
        credentials=tuple(c["sha256"] for c in data.get("credentials") or ()),
        allow_operations=tuple(data.get("allow_operations") or ()),
        trusted_results=tuple((data.get("provenance") or {}).get("trusted_tools") or ()),
        untrusted_results=tuple((data.get("provenance") or {}).get("untrusted_tools") or ()),
        flow_rules=tuple(r for r in deny if r.flow),
        quotas=quotas,
    )


def _parse(text: str, source: str) -> tuple[AgentPolicy | None, list[PolicyIssue]]:
    try:
        return _parse_document(text, source)
    except RecursionError:
        # nesting a parser took but a checker cannot walk (a deeply nested `args_schema`)
        return None, [PolicyIssue(source, 1, "", "the YAML nests too deep for gate to read")]


def _parse_document(text: str, source: str) -> tuple[AgentPolicy | None, list[PolicyIssue]]:
    try:
        node = compose_yaml(text)
        fatal, dups = _document_issues(text, node) if node is not None else ([], [])
        if fatal:
            return None, [PolicyIssue(source, line, "", msg) for line, msg in fatal]
        try:
            lines = yaml_lines(node)        # before constructing, which flattens merge keys in `node`
        except TypeError:
            lines = {}                      # a key that is a list or mapping: the constructor refuses it
        data = construct_yaml(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [PolicyIssue(source, line, "", f"YAML syntax error: {problem}")]
    except RecursionError:
        return None, [PolicyIssue(source, 1, "", "the YAML nests too deep for gate to read")]
    if node is None or not isinstance(data, dict):
        return None, [PolicyIssue(source, 1, "", "a policy file must be a YAML mapping with `agent` and `identity`")]
    issues: list[PolicyIssue] = [PolicyIssue(source, line, "", msg) for line, msg in dups]
    for err in _schema_errors(data):
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            # Point at each unknown key's own line, not at the mapping that holds it.
            known = set((err.schema or {}).get("properties", {}))
            for key in [k for k in err.instance if k not in known]:
                issues.append(PolicyIssue(source, line_of(lines, path + (key,)), fmt_path(path + (key,)),
                                          f"unknown field {key!r}"))
            continue
        issues.append(PolicyIssue(source, line_of(lines, path), fmt_path(path), err.message))
    flagged = {i.path for i in issues}
    for path, msg in _value_issues(data):
        if fmt_path(path) not in flagged:
            issues.append(PolicyIssue(source, line_of(lines, path), fmt_path(path), msg))
    try:
        semantic = _semantic_issues(data)
    except (AttributeError, TypeError, KeyError):
        semantic = []  # shapes are wrong; the schema errors above already say where
    for path, msg in semantic:
        issues.append(PolicyIssue(source, line_of(lines, path), fmt_path(path), msg))
    issues.sort(key=lambda i: i.line)
    if issues:
        return None, issues
    return _build(data, source), []


def load_policy_file(path: str | Path) -> AgentPolicy:
    """Load and validate one policy file; raises `PolicyError` listing every issue."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([PolicyIssue(str(p), 0, "", f"cannot read: {exc}")]) from exc
    policy, issues = _parse(text, str(p))
    if issues or policy is None:
        raise PolicyError(issues)
    return policy


def load_policies(directory: str | Path) -> list[AgentPolicy]:
    """Load every `*.yaml`/`*.yml` policy in a directory, all or nothing.

    Raises `PolicyError` with the issues of every file when any file is invalid, when two
    files declare the same agent, or when the directory holds no policy.
    """
    d = Path(directory)
    if not d.is_dir():
        raise PolicyError([PolicyIssue(str(d), 0, "", "not a directory")])
    files = sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    issues: list[PolicyIssue] = []
    policies: list[AgentPolicy] = []
    owners: dict[str, str] = {}
    for f in files:
        try:
            pol = load_policy_file(f)
        except PolicyError as exc:
            issues.extend(exc.issues)
            continue
        if pol.agent in owners:
            issues.append(PolicyIssue(str(f), 1, "agent", f"agent {pol.agent!r} is already defined in {owners[pol.agent]}"))
            continue
        owners[pol.agent] = str(f)
        policies.append(pol)
    if not files:
        issues.append(PolicyIssue(str(d), 0, "", "no *.yaml policy files found"))
    if issues:
        raise PolicyError(issues)
    return policies


def glob_match(path: str, pattern: str) -> bool:
    """Shell-style glob where `**` crosses directory separators and `*` does not; a trailing
    `/**` also takes the folder itself (`/srv/**` takes `/srv`, a cwd at the tree's root)."""
    return glob_regex(pattern).match(path) is not None


@lru_cache(maxsize=4096)
def glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if i + 3 == len(pattern) and pattern.endswith("/**") and i:
            out += "(?:/.*)?"   # the folder itself or anything below it
            break
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + r"\Z")


