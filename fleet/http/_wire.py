"""JSON bodies and query strings to the wire contract's request messages, and replies back.

JSON is protobuf's own JSON mapping (`json_format`) over the same messages gRPC carries, so
the one conversion to domain types (`fleet.api.convert`) serves both front ends. Field names
are the proto names (`mission_id`); enum values may be written without their prefix
(`active` for `MISSION_STATE_ACTIVE`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from fleet.model import InvalidInputError, Reason, shorten

__all__ = ["decode_json", "parse_request", "to_json"]

M = TypeVar("M", bound=Message)

_PARSING = re.compile(r"Failed to parse (\w+) field")
_AT_PATH = re.compile(r' at "?\w+\.([\w\[\]]+(?:\.[\w\[\]]+)*)')
_NO_FIELD = re.compile(r'has no field named "(\w+)"')


def _field_in(error: str, fallback: str) -> str:
    """The request field a json_format error is about, as a path (mission.tasks[0].x)."""
    at, unknown = _AT_PATH.search(error), _NO_FIELD.search(error)
    if at and unknown:
        return f"{at.group(1)}.{unknown.group(1)}"
    if at:
        return at.group(1)
    if unknown:
        return unknown.group(1)
    return ".".join(_PARSING.findall(error)) or fallback


def decode_json(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object (InvalidInputError naming `body` if it is not one)."""
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"body is not JSON: {err}", field="body", value=None,
                                reason=Reason.MALFORMED) from err
    if not isinstance(doc, dict):
        raise InvalidInputError("body must be a JSON object", field="body",
                                value=type(doc).__name__, reason=Reason.MALFORMED)
    return doc


def _enum_value(field: FieldDescriptor, text: str) -> str:
    """An enum name, its prefix added if the caller left it off (`active`)."""
    names: list[str] = [v.name for v in field.enum_type.values]
    if text in names:
        return text
    for name in names:
        if name.lower().endswith("_" + text.lower()):
            return name
    return text  # json_format names the field and the value


def _query_value(field: FieldDescriptor, text: str) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_value(field, text)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return text.lower() in ("1", "true", "yes")
    return text


def parse_request(message_type: type[M], *, body: Mapping[str, Any] | None = None,
                  body_field: str = "", path: Mapping[str, str] | None = None,
                  query: Sequence[tuple[str, str]] = ()) -> M:
    """Build a request message from the route's parts.

    `body` fills the field `body_field` (the whole message if empty); `path` and `query`
    fill the fields they name. Repeated query keys append; `labels=key:value` fills a map.
    Raises InvalidInputError naming the field for anything that does not fit.
    """
    descriptor: Descriptor = message_type.DESCRIPTOR
    doc: dict[str, Any] = {}
    for key, text in query:
        field = descriptor.fields_by_name.get(key)
        if field is None:
            raise InvalidInputError(f"query parameter {key!r} is not one of "
                                    f"{', '.join(sorted(descriptor.fields_by_name))}",
                                    field=key, value=shorten(text), reason=Reason.MALFORMED)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            name, sep, value = text.partition(":")
            if not sep:
                raise InvalidInputError(f"{key} {shorten(text)} must be key:value", field=key,
                                        value=shorten(text), reason=Reason.MALFORMED)
            doc.setdefault(key, {})[name] = value
        elif field.is_repeated:
            doc.setdefault(key, []).append(_query_value(field, text))
        else:
            doc[key] = _query_value(field, text)
    if body is not None:
        if body_field:
            doc[body_field] = dict(body)
        else:
            doc.update(body)
    doc.update(path or {})
    message: M = message_type()
    try:
        json_format.ParseDict(doc, message)
    except json_format.ParseError as err:
        text = str(err)
        name = _field_in(text, body_field or "body")
        raise InvalidInputError(f"{name}: {text}", field=name, value=None,
                                reason=Reason.MALFORMED) from err
    return message


def to_json(message: Message) -> dict[str, Any]:
    """A reply message as JSON: proto field names, every field present."""
    doc: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    return doc
