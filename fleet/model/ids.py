"""The one rule for ids that cross the wire: robots, missions, tasks, loads."""

from __future__ import annotations

import re

from fleet.model.errors import InvalidInputError

__all__ = ["check_id"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_id(field: str, value: str) -> str:
    """Return `value` if it is 1-64 letters, digits, '.', '_' or '-' (not first); else raise."""
    if not _ID.fullmatch(value):
        raise InvalidInputError(
            f"{field} {value!r} is not a valid id: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit", field=field, value=value)
    return value
