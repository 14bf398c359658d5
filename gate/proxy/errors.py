"""Errors of the HTTP proxy, on gate's one exception tree (`gate.errors`), with stable wire codes.

    GateError
    ├── RequestError                                 (client input, 4xx)
    │   ├── Unauthorized          unauthorized             401  (gate.errors)
    │   ├── PayloadTooLarge       payload_too_large        413  (gate.errors)
    │   ├── RequestTimeout        request_timeout          408  (gate.errors; the body did not arrive in time)
    │   └── UnknownRoute          unknown_route            403
    ├── RoutesError               routes_invalid           (routes file refused; lists every issue)
    └── UpstreamError                                    (the upstream failed, 5xx)
        ├── UpstreamUnavailable   upstream_unavailable     502
        ├── UpstreamTimeout       upstream_timeout         504
        └── UpstreamTooLarge      upstream_response_too_large 502

A BLOCK is a result (403 with the decision), never one of these.
"""

from __future__ import annotations

from gate.errors import GateError, PolicyIssue, RequestError

__all__ = ["UnknownRoute", "RoutesError", "UpstreamError", "UpstreamUnavailable", "UpstreamTimeout", "UpstreamTooLarge"]


class UnknownRoute(RequestError):
    code = "unknown_route"
    status = 403


class RoutesError(GateError):
    """The routes file was refused; `issues` lists every problem found, by line."""

    code = "routes_invalid"
    status = 500

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = issues
        super().__init__(f"{len(issues)} routes error(s):\n" + "\n".join(str(i) for i in issues))


class UpstreamError(GateError):
    """The upstream failed. `reached` is False only when the call certainly never got to it
    (the connection was never made); otherwise the upstream may have run the call."""

    code = "upstream_error"
    status = 502
    reached = True

    def __init__(self, message: str, *, reached: bool = True) -> None:
        super().__init__(message)
        self.reached = reached


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unavailable"
    status = 502


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"
    status = 504


class UpstreamTooLarge(UpstreamError):
    code = "upstream_response_too_large"
    status = 502
