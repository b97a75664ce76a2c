"""A check that had nothing it could look at says so, and why, instead of passing."""

from __future__ import annotations


class Skipped(Exception):
    """Raised by a check that could not look at anything for this run; the message says why."""
