"""Replicas of mixed versions on one Redis: a snapshot written by a newer gate (a field this
version does not know) or an older one (a field missing) loads; a field of the wrong type is
refused by name, and the gate fails closed on that session (a BLOCK, a 503), never crashes and
never restarts the session from nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import orjson
import pytest

from gate import Gate
from gate.core.session import SessionSnapshot, SnapshotError
from gate.errors import SessionUnreadable, StoreUnavailable
from gate.server import create_app
from gate.settings import Settings
from gate.stores import session_key

POLICIES = Path(__file__).parent / "fixtures" / "stores"
AGENT = "library-assistant"


def book(session: str, isbn: str = "978-0-1") -> dict:
    return {"agent": AGENT, "session": session, "action": {"tool": "lookup_book", "args": {"isbn": isbn}}}


def stored(snap: SessionSnapshot, **changes: object) -> bytes:
    """`snap` as JSON, with fields added (a value) or taken away (None)."""
    d = orjson.loads(snap.to_json())
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return orjson.dumps(d)


FULL = SessionSnapshot(agent=AGENT, session="s", task="find a book", steps=3, exposure=2, escalation=1, risk_level=1,
                       drift=0.25, tainted=frozenset({"evil.example"}), usage=(("q", 2, 5.0),),
                       pending=(("d1", "lookup_book", "ab" * 16),), held=frozenset({"B-1=on_hold"}))


# decoding ---------------------------------------------------------------------------------------

def test_a_field_from_a_newer_version_is_kept_not_interpreted() -> None:
    raw = stored(FULL, trust_score=0.7, approvals=[{"by": "ann"}])
    snap = SessionSnapshot.from_json(raw)
    assert snap == FULL                                   # every known field as written
    assert snap.extra_fields == {"trust_score": 0.7, "approvals": [{"by": "ann"}]}
    # an older replica that updates the session writes the newer fields back as it read them
    back = orjson.loads(snap.evolve(steps=4).to_json())
    assert back["trust_score"] == 0.7 and back["approvals"] == [{"by": "ann"}] and back["steps"] == 4
    # a known field always wins over a stale copy among the extras
    assert SessionSnapshot.from_json(snap.to_json()).extra_fields == snap.extra_fields


def test_a_field_missing_in_an_older_snapshot_takes_its_default() -> None:
    raw = stored(FULL, pending=None, usage=None, marks=None, held=None, drift=None)
    snap = SessionSnapshot.from_json(raw)
    assert snap.pending == () and snap.usage == () and snap.marks == frozenset() and snap.held == frozenset()
    assert snap.drift == 0.0 and snap.steps == 3 and snap.tainted == FULL.tainted
    assert snap.extra_fields is None
    assert SessionSnapshot.from_json(b"{}") == SessionSnapshot()


@pytest.mark.parametrize(("raw", "names"), [
    (b'{"steps": "3"}', "field 'steps': a string, not an integer"),
    (b'{"steps": true}', "field 'steps': a boolean, not an integer"),
    (b'{"blocks": -1}', "field 'blocks': -1 is out of range"),
    (b'{"risk_level": 7}', "field 'risk_level': 7 is out of range (0 to 4)"),
    (b'{"drift": "low"}', "field 'drift': a string, not a number"),
    (b'{"task": 5}', "field 'task': a number, not a string"),
    (b'{"tainted": "evil.example"}', "field 'tainted': a string, not a list of strings"),
    (b'{"secrets": [1]}', "field 'secrets': holds a number, not only strings"),
    (b'{"usage": [["q", 1]]}', "field 'usage': holds a list that is not a [quota id, calls, total] row"),
    (b'{"usage": [["q", "1", 0.0]]}', "field 'usage': a string, not an integer"),
    (b'{"pending": [["d", "t", 7]]}', "field 'pending': a number, not a string"),
    (b'{"task_vec": "%%%"}', "field 'task_vec'"),
    (b'{"task_vec": [0.1]}', "field 'task_vec': a list, not base64 text"),
    (b'[1, 2]', "a snapshot is a JSON object, not a list"),
    (b'{not json', "not JSON"),
])
def test_a_field_of_the_wrong_type_is_refused_by_name(raw: bytes, names: str) -> None:
    with pytest.raises(SnapshotError) as err:
        SessionSnapshot.from_json(raw)
    assert names in str(err.value)
    assert isinstance(err.value, ValueError)


# a real Redis shared with a newer and a broken writer -------------------------------------------

def redis_gate(url: str) -> Gate:
    return Gate.from_policies(POLICIES, Settings(audit_path=None, store="redis", redis_url=url, redis_timeout_s=0.25))


def put(url: str, key: str, raw: bytes) -> None:
    import redis

    redis.Redis.from_url(url).hset(key, mapping={"v": "v-newer", "d": raw})


@pytest.mark.redis
def test_an_older_replica_decides_on_a_newer_snapshot_and_keeps_its_fields(redis_server, caplog) -> None:
    gate = redis_gate(redis_server.url)
    key = session_key(AGENT, "s-newer")
    base = SessionSnapshot(agent=AGENT, session="s-newer", steps=5, exposure=1)
    put(redis_server.url, key, stored(base, trust_score=0.7))
    with caplog.at_level(logging.WARNING, logger="gate.stores.redis"):
        for i in range(3):
            assert gate.check(book("s-newer", f"978-0-{i}")).decision == "ALLOW"
    snap = gate.store.get(key)
    assert snap.steps == 8 and snap.exposure >= 1               # the session went on, not afresh
    assert snap.extra_fields == {"trust_score": 0.7}            # the newer replica's field survived
    logged = [r for r in caplog.records if "trust_score" in r.getMessage()]
    assert len(logged) == 1                                     # once, not per call
    # a snapshot missing a newer field (written by an older replica) loads too
    put(redis_server.url, key, stored(base, pending=None, usage=None, marks=None))
    assert gate.check(book("s-newer", "978-0-9")).decision == "ALLOW"
    assert gate.store.get(key).steps == 6
    gate.close()


@pytest.mark.redis
async def test_a_snapshot_of_the_wrong_type_fails_closed_naming_the_field(redis_server) -> None:
    gate = redis_gate(redis_server.url)
    key = session_key(AGENT, "s-bad")
    put(redis_server.url, key, stored(SessionSnapshot(agent=AGENT, session="s-bad", steps=2), risk_level="HIGH"))

    d = gate.check(book("s-bad"))
    assert d.decision == "BLOCK" and [r["code"] for r in d.reasons] == ["session_unreadable"]
    assert "field 'risk_level': a string, not an integer" in d.reasons[0]["message"]
    assert gate.metrics.store_errors._value.get() == 1
    with pytest.raises(SessionUnreadable, match="risk_level") as err:
        gate.observe(book("s-bad") | {"result": {"title": "Dune"}})
    assert isinstance(err.value, StoreUnavailable)
    assert gate.check(book("s-other")).decision == "ALLOW"      # other sessions are unaffected

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(gate)), base_url="http://gate") as c:
        r = await c.post("/v1/check", json=book("s-bad"))
        assert r.status_code == 200 and r.json()["decision"] == "BLOCK"
        assert r.json()["reasons"][0]["code"] == "session_unreadable"
        r = await c.post("/v1/observe", json=book("s-bad") | {"result": {}})
        assert r.status_code == 503 and r.json()["error"]["code"] == "session_unreadable"
        assert "risk_level" in r.json()["error"]["message"]
        r = await c.get(f"/v1/sessions/{AGENT}/s-bad")
        assert r.status_code == 503 and r.json()["error"]["code"] == "session_unreadable"
    # the snapshot is left as it was, for someone to look at
    import redis

    assert b'"HIGH"' in redis.Redis.from_url(redis_server.url).hget(key, "d")
    gate.close()


def test_a_task_imprint_from_another_encoder_is_reimprinted() -> None:
    """A snapshot whose task vector has another size (imprinted by a replica with another
    encoder) is re-imprinted from its task text instead of failing the decision."""
    import base64

    import numpy as np

    gate = Gate.from_policies(POLICIES, Settings(audit_path=None))
    first = book("s-dim") | {"task": "Help the reader find books on Roman history"}
    gate.check(first)
    key = session_key(AGENT, "s-dim")
    snap = gate.store.get(key)
    dim = snap.task_vec.shape[0]
    foreign = stored(snap, task_vec=base64.b64encode(np.ones(8, dtype=np.float32).tobytes()).decode())
    gate.store.transact(key, lambda _: (None, SessionSnapshot.from_json(foreign)))
    assert gate.store.get(key).task_vec.shape == (8,)
    d = gate.check(book("s-dim", "978-0-2"))
    assert d.decision == "ALLOW"
    assert "task_similarity" in d.scores
    assert gate.store.get(key).task_vec.shape == (dim,)
