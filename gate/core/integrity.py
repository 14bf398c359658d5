"""Integrity controls over what a session has already done and seen (round 10, issue 3).

Each control is two halves: what an executed call leaves in the session's `held` entries (on
observe), and the rule a later call is checked against (in the preconditions check).

- Split order: an order under the per-order limit the identity states, placed for a reference
  (a ticket, a request, a PO) that earlier orders of the session already spent on, so that the
  orders for that one reference together exceed the limit.
"""

from __future__ import annotations

import re
from typing import Any

from gate.core.actions import flatten_args
from gate.core.verdict import Verdict

ORDER_PREFIX = "order:"

# The reference an order is placed for (a helpdesk ticket, a purchase request, a PO).
_ORDER_REF_LEAF = re.compile(r"(?i)^(?:ticket|request|case|reference|ref|po|purchase_?request|requisition|project)"
                             r"(?:_?(?:id|no|number|ref|key))?$")
_QTY_LEAF = re.compile(r"(?i)^(?:quantity|qty|count|units)$")
_UNIT_PRICE_LEAF = re.compile(r"(?i)^(?:unit_?price|price|unit_?cost|item_?price)(?:_(?:usd|eur|gbp))?$")
_TOTAL_LEAF = re.compile(r"(?i)^(?:total|amount|order_?total|total_?(?:amount|price|cost)|cost)(?:_(?:usd|eur|gbp))?$")


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def order_total(args: dict[str, Any]) -> float | None:
    """What an order costs: its lines' quantity times unit price, else its stated total."""
    lines: dict[str, dict[str, float]] = {}
    total: float | None = None
    for path, value in flatten_args(args):
        n = _number(value)
        if n is None:
            continue
        parent, _, leaf = path.rpartition(".")
        if _UNIT_PRICE_LEAF.match(leaf):
            lines.setdefault(parent, {})["price"] = n
        elif _QTY_LEAF.match(leaf):
            lines.setdefault(parent, {})["qty"] = n
        elif not parent and _TOTAL_LEAF.match(leaf):
            total = n
    priced = [ln["price"] * max(ln.get("qty", 1.0), 1.0) for ln in lines.values() if "price" in ln]
    if priced:
        return sum(priced)
    return total


def order_refs(args: dict[str, Any]) -> set[str]:
    """The references a call is placed for (`ticket: HD-4520`)."""
    out: set[str] = set()
    for k, v in args.items():
        if isinstance(v, str) and _ORDER_REF_LEAF.match(str(k)) and v.strip() and re.search(r"\d", v):
            out.add(v.strip().upper())
    return out


def order_entries(limited: bool, tool_name: str, args: dict[str, Any], verbs: frozenset[str], step: int) -> set[str]:
    """`REF=order:TOOL:TOTAL:STEP` for an executed order the identity caps per order."""
    if not limited or "read" in verbs:
        return set()
    total = order_total(args)
    if total is None:
        return set()
    return {f"{ref}={ORDER_PREFIX}{tool_name}:{total:g}:{step}" for ref in order_refs(args)}


def split_order(tool_name: str, args: dict[str, Any], limit: float, held: frozenset[str]) -> Verdict | None:
    """An order under the per-order limit whose reference the session's earlier orders (same
    tool) already spent on, together above the limit: one purchase split into orders."""
    total = order_total(args)
    if total is None or total > limit + 0.005:
        return None   # above the limit on its own: the identity-limit constraint speaks
    prior: set[tuple[float, str]] = set()
    for ref in order_refs(args):
        head = f"{ref}={ORDER_PREFIX}{tool_name}:"
        for entry in held:
            if entry.startswith(head):
                amt, _, step = entry[len(head):].rpartition(":")
                try:
                    prior.add((float(amt), step))
                except ValueError:
                    continue
    if not prior:
        return None
    spent = sum(a for a, _ in prior)
    if total + spent > limit + 0.005:
        return Verdict("preconditions", "block", "split_order",
                       f"with {len(prior)} earlier order(s) for the same reference this comes to {total + spent:g}, "
                       f"above the per-order limit of {limit:g}: one purchase split into orders under the limit",
                       {"identity_limit": limit, "total": total + spent})
    return None
