"""Showing values a caller sent: shortened in messages, escaped in logs.

A value from the wire may be a megabyte long or carry control characters; an error message or
a log line shows at most a short, printable prefix of it, so neither a reply's metadata nor the
log can be flooded or forged by what a caller sent.
"""

from __future__ import annotations

__all__ = ["PREFIX_CHARS", "escape", "shorten"]

PREFIX_CHARS = 64
"""Most characters of a caller's value an error message or a log line repeats."""

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text: str) -> str:
    """`text` with every control, format or non-printable character written as an escape
    (\\n, \\x1b, \\u2028), so it cannot break or forge a log line or colour a terminal."""
    if text.isprintable():
        return text
    return "".join(_ESCAPES.get(c) or (c if c.isprintable() else _code(c)) for c in text)


def _code(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def shorten(value: object, limit: int = PREFIX_CHARS) -> str:
    """A value as an error message or a log line shows it: a string quoted and escaped, cut
    after `limit` characters with the full length said ('abc…(1000000 chars)'); anything else
    by its repr, cut the same way."""
    if isinstance(value, str):
        if len(value) <= limit:
            return f"'{escape(value)}'"
        return f"'{escape(value[:limit])}'…({len(value)} chars)"
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{escape(text[:limit])}…({len(text)} chars)"
