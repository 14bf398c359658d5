"""Guard Python tool functions in-process: each call is decided before it runs.

    from gate import Gate, guard, agent_session, Blocked

    gate = Gate.from_policies("policies/")

    @guard(gate, agent="billing-assistant")
    def issue_refund(order_id: str, amount: float, currency: str = "USD") -> dict: ...

    with agent_session("sess-42", task="refund order A-1001 (damaged item)"):
        issue_refund("A-1001", 40)        # ALLOW: runs
        issue_refund("A-1001", 9000)      # BLOCK: raises Blocked, the function does not run

The call's arguments, defaults included, are what the gate judges (the tool name is the
function's name unless `tool=` says otherwise). ALLOW runs the function; REWRITE runs it with
the rewritten arguments (a clamped amount, a redacted body); BLOCK raises `Blocked` carrying
the decision. In a session, what the function returned (or the error it raised) is reported to
the gate with the decision's id, so provenance and session risk see the result as they would
through `/v1/observe`. `async def` tools are guarded the same way. A call the gate cannot judge
(arguments that are not JSON values, an unknown agent) raises the gate's `RequestError` and
does not run: the guard never fails open.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import orjson

from gate.core.verdict import Decision
from gate.errors import GateError, InvalidRequest
from gate.gate import first_unreadable

__all__ = ["guard", "agent_session", "Blocked", "RewriteNotApplicable"]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("gate.guard")


@dataclass(frozen=True)
class _SessionContext:
    session: str | None
    task: str | None


_CURRENT: contextvars.ContextVar[_SessionContext] = contextvars.ContextVar("gate_session", default=_SessionContext(None, None))


@contextlib.contextmanager
def agent_session(session: str | None, task: str | None = None) -> Iterator[None]:
    """Guarded calls inside this block belong to `session` (and imprint `task`). Context-local:
    concurrent asyncio tasks and threads each keep their own."""
    token = _CURRENT.set(_SessionContext(session, task))
    try:
        yield
    finally:
        _CURRENT.reset(token)


class Blocked(GateError):
    """The gate blocked the call; the function did not run. `decision` says why."""

    code = "blocked"
    status = 403

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        why = "; ".join(f"{r['code']}: {r['message']}" for r in decision.reasons) or "no reason given"
        super().__init__(f"{decision.action['tool']} blocked ({decision.decision_id}): {why}")


class RewriteNotApplicable(GateError):
    """The gate rewrote the call into a form the function cannot take (a required argument
    removed); the function did not run."""

    code = "rewrite_not_applicable"
    status = 422

    def __init__(self, decision: Decision, message: str) -> None:
        self.decision = decision
        super().__init__(message)


def _json_safe(value: Any) -> Any:
    """A result as JSON values (what `/v1/observe` would receive): objects become strings."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS))


class _Binding:
    """Between a function's parameters and a call's JSON arguments, both ways."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.sig = inspect.signature(fn)

    def to_args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = self.sig.bind(*args, **kwargs)     # a TypeError here is the caller's, as without the guard
        bound.apply_defaults()
        out: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = self.sig.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                out.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                out[name] = list(value)
            else:
                out[name] = value
        return out

    def to_call(self, rewritten: dict[str, Any], decision: Decision) -> tuple[list[Any], dict[str, Any]]:
        """The rewritten arguments as a call: parameters that can be positional are passed
        positionally (a missing one by its default), so a `*args` part lands where it belongs."""
        rest = dict(rewritten)
        positional: list[Any] = []
        keywords: dict[str, Any] = {}
        for name, p in self.sig.parameters.items():
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                continue
            if p.kind is inspect.Parameter.VAR_POSITIONAL:
                positional.extend(rest.pop(name, ()))
                continue
            if name in rest:
                value = rest.pop(name)
            elif p.default is not inspect.Parameter.empty:
                value = p.default
            else:
                raise RewriteNotApplicable(decision, f"the rewrite of {decision.action['tool']} removed the required argument {name!r}")
            if p.kind is inspect.Parameter.KEYWORD_ONLY:
                keywords[name] = value
            else:
                positional.append(value)
        keywords.update(rest)                      # the **kwargs part
        return positional, keywords


# The tool has run by the time its result is reported: a failed report (the session store down,
# a result nested too deep) must not lose the result. The next check of the session fails
# closed if the store is still down.
def _observe(gate: Any, body: dict[str, Any]) -> None:
    try:
        gate.observe(body, via="guard")
    except GateError as exc:
        log.warning("gate: could not record the result of %s (%s): %s", body["action"]["tool"], body["decision_id"], exc)


async def _aobserve(gate: Any, body: dict[str, Any]) -> None:
    try:
        await gate.aobserve(body, via="guard")
    except GateError as exc:
        log.warning("gate: could not record the result of %s (%s): %s", body["action"]["tool"], body["decision_id"], exc)


def guard(gate: Any, agent: str, *, tool: str | None = None) -> Callable[[F], F]:
    """Decorate a tool function so every call is decided by `gate` for `agent` before it runs."""

    def wrap(fn: F) -> F:
        name = tool or fn.__name__
        binding = _Binding(fn)

        def request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], _SessionContext]:
            ctx = _CURRENT.get()
            call = binding.to_args(args, kwargs)
            why = first_unreadable(call)
            if why is not None:
                # judged on a string form, an object could read as something it is not to the tool
                raise InvalidRequest(f"{name}: argument {why}")
            req: dict[str, Any] = {"agent": agent, "action": {"tool": name, "args": call}}
            if ctx.session is not None:
                req["session"] = ctx.session
            if ctx.task:
                req["task"] = ctx.task
            return req, ctx

        def call_args(d: Decision, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
            if d.decision == "BLOCK":
                raise Blocked(d)
            if d.decision == "REWRITE":
                return binding.to_call(d.action["args"], d)
            return args, kwargs

        def report(d: Decision, ctx: _SessionContext, outcome: Any) -> dict[str, Any] | None:
            if ctx.session is None:
                return None
            return {"agent": agent, "session": ctx.session, "decision_id": d.decision_id,
                    "action": {"tool": name, "args": d.action["args"]}, "result": _json_safe(outcome)}

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_guarded(*args: Any, **kwargs: Any) -> Any:
                req, ctx = request(args, kwargs)
                d = await gate.acheck(req, via="guard")
                a, kw = call_args(d, args, kwargs)
                try:
                    result = await fn(*a, **kw)
                except Exception as exc:
                    body = report(d, ctx, {"error": type(exc).__name__, "message": str(exc)})
                    if body is not None:
                        await _aobserve(gate, body)
                    raise
                body = report(d, ctx, result)
                if body is not None:
                    await _aobserve(gate, body)
                return result

            async_guarded.gate_tool = name   # type: ignore[attr-defined]
            return async_guarded  # type: ignore[return-value]

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            req, ctx = request(args, kwargs)
            d = gate.check(req, via="guard")
            a, kw = call_args(d, args, kwargs)
            try:
                result = fn(*a, **kw)
            except Exception as exc:
                body = report(d, ctx, {"error": type(exc).__name__, "message": str(exc)})
                if body is not None:
                    _observe(gate, body)
                raise
            body = report(d, ctx, result)
            if body is not None:
                _observe(gate, body)
            return result

        guarded.gate_tool = name   # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return wrap
