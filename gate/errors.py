"""The one exception tree of gate, with stable wire codes.

    GateError                     code            HTTP
    ├── RequestError              (client input)  4xx
    │   ├── MalformedRequest      malformed_request   400
    │   ├── InvalidRequest        invalid_request     422
    │   ├── UnknownAgent          unknown_agent       404
    │   ├── PayloadTooLarge       payload_too_large   413
    │   ├── RequestTimeout        request_timeout     408 (the body did not arrive in time)
    │   ├── Unauthorized          unauthorized        401
    │   └── Forbidden             forbidden           403
    ├── PolicyError               policy_invalid  (load/reload refused; lists every issue)
    ├── StoreUnavailable          store_unavailable   503 (session store down: fail closed)
    │   └── SessionUnreadable     session_unreadable  503 (a stored snapshot this version cannot read: fail closed)
    └── NotReady                  not_ready           503

A BLOCK is a result, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GateError",
    "RequestError",
    "MalformedRequest",
    "InvalidRequest",
    "UnknownAgent",
    "PayloadTooLarge",
    "RequestTimeout",
    "Unauthorized",
    "Forbidden",
    "PolicyIssue",
    "PolicyError",
    "StoreUnavailable",
    "SessionUnreadable",
    "NotReady",
]


class GateError(Exception):
    """Base of every error gate raises on purpose."""

    code = "gate_error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class RequestError(GateError):
    code = "bad_request"
    status = 400


class MalformedRequest(RequestError):
    code = "malformed_request"
    status = 400


class InvalidRequest(RequestError):
    code = "invalid_request"
    status = 422


class UnknownAgent(RequestError):
    code = "unknown_agent"
    status = 404


class PayloadTooLarge(RequestError):
    code = "payload_too_large"
    status = 413


class RequestTimeout(RequestError):
    code = "request_timeout"
    status = 408


class Unauthorized(RequestError):
    code = "unauthorized"
    status = 401


class Forbidden(RequestError):
    code = "forbidden"
    status = 403


@dataclass(frozen=True)
class PolicyIssue:
    """One problem found in a policy file, located by file and line."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        at = f" at {self.path}" if self.path else ""
        return f"{where}{at}: {self.message}"


class PolicyError(GateError):
    """Policies were refused; `issues` lists every problem found."""

    code = "policy_invalid"
    status = 500

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = issues
        lines = "\n".join(str(i) for i in issues)
        super().__init__(f"{len(issues)} policy error(s):\n{lines}")


class StoreUnavailable(GateError):
    code = "store_unavailable"
    status = 503


class SessionUnreadable(StoreUnavailable):
    """The store holds a snapshot of the session that this version of gate cannot read (the
    message names the field): the session is not silently restarted, its calls are blocked."""

    code = "session_unreadable"
    status = 503


class NotReady(GateError):
    code = "not_ready"
    status = 503
