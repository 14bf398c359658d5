"""Subcommands of this sidecar mode."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this mode's subcommands to the `gate` parser."""
    return None
