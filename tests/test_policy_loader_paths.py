"""The policy loader's quicker paths give what the plain ones gave: libyaml's parser (when
PyYAML has it) composes the same nodes, lines and data as the pure-Python one, a document is
constructed once from its nodes instead of parsed twice, the anchor-free walk finds the same
duplicate keys as the full walk, and a repeated `args_schema` gets the same verdict from the
memo as from a fresh check. A gate holding 1,000 policies loads them several times faster
(`python bench/latency.py --only start`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gate.policy import loader
from gate.policy.loader import _args_schema_problem, _check_args_schema, _document_issues, _node_issues, compose_yaml, construct_yaml, yaml_lines

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "policies").glob("*.yaml")) + sorted((ROOT / "bench" / "policies").glob("*.yaml"))

DUPS = [
    "agent: x\nidentity: a\nidentity: b\n",
    "agent: x\nidentity: a\ntools:\n  - name: t\n    name: u\n    constraints:\n      - {arg: a, arg: b, max: 1}\n",
    "agent: x\nidentity: a\nthresholds: {scope: 0.1, scope: 0.2, drift: 1, drift: 2}\n",
    "base: &b {max: 5}\nagent: x\nidentity: R&D\nlimits:\n  - <<: *b\n    max: 6\n    max: 7\n",
    "agent: x\nidentity: R&D\nteam: &t {lead: a}\nothers: [*t, *t]\n",
]


def test_a_key_that_is_a_list_is_refused_not_a_crash(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("agent: x\nidentity: a\n? [complex, key]\n: 1\n")
    with pytest.raises(loader.PolicyError) as exc:
        loader.load_policy_file(p)
    assert "YAML syntax error" in str(exc.value) and "unhashable" in str(exc.value)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_shipped_policies_load_the_same_through_either_parser(path: Path) -> None:
    text = path.read_text("utf-8")
    node = compose_yaml(text)
    plain = yaml.compose(text, Loader=yaml.SafeLoader)
    assert yaml_lines(node) == yaml_lines(plain)
    assert _document_issues(text, node) == _node_issues(plain)
    assert construct_yaml(node) == yaml.safe_load(text)


@pytest.mark.parametrize("text", DUPS)
def test_duplicate_keys_and_merges_read_the_same(text: str) -> None:
    node, plain = compose_yaml(text), yaml.compose(text, Loader=yaml.SafeLoader)
    issues = _document_issues(text, node)
    assert issues == _node_issues(plain)
    assert yaml_lines(node) == yaml_lines(plain)
    assert construct_yaml(node) == yaml.safe_load(text)
    if text.count("identity:") == 2 or "arg: b" in text:
        assert issues[1], "a duplicate key must be reported"


def test_the_anchor_free_walk_finds_what_the_full_walk_finds() -> None:
    text = "agent: x\nidentity: a\n" + "".join(f"k{i}: {{a: 1, a: 2, b: [1, 2]}}\n" for i in range(50))
    node = compose_yaml(text)
    fast = _document_issues(text, node)
    assert fast == _node_issues(node) and len(fast[1]) == 50


def test_a_document_past_the_value_bound_is_refused_on_either_walk() -> None:
    text = "agent: x\nidentity: a\nbig: [" + ", ".join("1" for _ in range(loader.MAX_VALUES + 5)) + "]\n"
    node = compose_yaml(text)
    fatal, _ = _document_issues(text, node)
    assert fatal and "past 100,000 values" in fatal[0][1]
    assert (fatal, _) == _node_issues(node)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"amount": {"type": "number", "maximum": 100}}},
    {"type": "object", "properties": {"a": {"type": "nonsense"}}},
    {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}},
    {"type": "object", "properties": {"a": {"pattern": "("}}},
    {"type": "object", "required": "amount"},
])
def test_a_remembered_schema_verdict_equals_a_fresh_one(schema: dict) -> None:
    first, second = _args_schema_problem(schema), _args_schema_problem(dict(schema))
    assert first == second == _check_args_schema(schema)


def test_schemas_that_json_would_change_are_checked_afresh() -> None:
    # a key that is not text would come back from JSON as text: no memo for it
    odd = {"type": "object", "properties": {5: {"type": "string"}}}
    assert _args_schema_problem(odd) == _check_args_schema(odd)
    assert _args_schema_problem({"type": "object", "properties": {"5": {"type": "string"}}}) is None


def _mutations(data: dict) -> list[dict]:
    """Documents a schema refuses or accepts, made from a shipped policy: fields dropped, given
    the wrong type, or set to values JSON cannot hold."""
    import copy
    import datetime
    out = []
    for key in list(data):
        d = copy.deepcopy(data)
        del d[key]
        out.append(d)
        for bad in (5, "text", [], {}, None, True, 1.5, datetime.date(2026, 1, 1), 10 ** 30, {"x": 1}):
            d = copy.deepcopy(data)
            d[key] = bad
            out.append(d)
    for tool in (data.get("tools") or [])[:3]:
        for key in list(tool):
            for bad in (7, "x", None, ["a"], {"unknown": 1}):
                d = copy.deepcopy(data)
                d["tools"][data["tools"].index(tool)][key] = bad
                out.append(d)
    return out


@pytest.mark.parametrize("path", FILES[::3], ids=lambda p: p.name)
def test_the_quick_schema_check_never_passes_what_the_full_one_refuses(path: Path) -> None:
    data = yaml.safe_load(path.read_text("utf-8"))
    assert loader._schema_errors(data) == []
    for doc in _mutations(data):
        full = sorted(loader._validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        quick = loader._schema_errors(doc)
        assert [(list(e.absolute_path), e.message) for e in quick] == [(list(e.absolute_path), e.message) for e in full]


@pytest.mark.parametrize("depth", [100, 400, 900])
def test_a_deeply_nested_args_schema_is_refused_not_a_crash(tmp_path: Path, depth: int) -> None:
    # libyaml composes deeper than the pure-Python parser did; the schema checks that walk the
    # result recursively then ran out of stack (a RecursionError out of the loader, before)
    schema = "{type: object, properties: {a: " * depth + "{type: string}" + "}}" * depth
    p = tmp_path / "p.yaml"
    p.write_text("agent: x\nidentity: Pays invoices.\ntools:\n  - name: t\n    args_schema: " + schema + "\n")
    with pytest.raises(loader.PolicyError) as exc:
        loader.load_policy_file(p)
    assert "nests too deep" in str(exc.value)
