"""The one rule for ids that cross the wire: robots, missions, tasks, loads."""

from __future__ import annotations

import re

from fleet.model.errors import InvalidInputError, Reason
from fleet.model.text import shorten

__all__ = ["ID_CHARS", "check_id", "id_problem"]

ID_CHARS = 64
"""Longest id, in characters."""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def id_problem(field: str, value: str) -> str:
    """Why `value` is not a valid id ("" if it is one): 1-64 letters, digits, '.', '_' or '-',
    starting with a letter or digit."""
    if _ID.fullmatch(value):
        return ""
    if not value:
        return f"{field} is empty: give an id of 1-{ID_CHARS} letters, digits, '.', '_' or '-'"
    return (f"{field} {shorten(value)} is not a valid id: use 1-{ID_CHARS} letters, digits, "
            "'.', '_' or '-', starting with a letter or digit")


def check_id(field: str, value: str) -> str:
    """Return `value` if it is 1-64 letters, digits, '.', '_' or '-' (not first); else raise."""
    problem = id_problem(field, value)
    if problem:
        raise InvalidInputError(problem, field=field, value=shorten(value),
                                reason=Reason.REQUIRED if not value else Reason.INVALID_ID)
    return value
