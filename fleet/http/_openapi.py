"""The OpenAPI document of the HTTP/JSON API, built from the route table and the wire
contract's message descriptors (so it cannot drift from what the server parses)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from fleet.http._routes import ApiRoute

__all__ = ["openapi_document"]

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int32", "minimum": 0},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    # protobuf's JSON mapping writes 64-bit integers as strings.
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}

_ERROR = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "code": {"type": "string", "description": "the gRPC status code's name"},
    "field": {"type": "string", "description": "the request field at fault"},
    "message": {"type": "string", "description": "what is wrong, naming field and value"}}}}}


def _field_schema(field: FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        entry = field.message_type
        if entry.GetOptions().map_entry:
            return {"type": "object",
                    "additionalProperties": _field_schema(entry.fields_by_name["value"],
                                                          schemas)}
        if entry.full_name == "google.protobuf.Timestamp":
            item: dict[str, Any] = {"type": "string", "format": "date-time"}
        else:
            item = {"$ref": f"#/components/schemas/{_schema(entry, schemas)}"}
    elif field.type == FieldDescriptor.TYPE_ENUM:
        item = {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    else:
        item = dict(_SCALARS.get(field.type, {"type": "string"}))
    if field.is_repeated:
        return {"type": "array", "items": item}
    return item


def _schema(descriptor: Descriptor, schemas: dict[str, Any]) -> str:
    """Add the message's schema (and those it uses) to `schemas`; returns its name."""
    name: str = descriptor.name
    if name not in schemas:
        schemas[name] = {}  # placeholder: messages may refer to themselves
        schemas[name] = {"type": "object", "properties": {
            f.name: _field_schema(f, schemas) for f in descriptor.fields}}
    return name


def openapi_document(routes: Sequence[ApiRoute]) -> dict[str, Any]:
    """OpenAPI 3.1 for the routes."""
    schemas: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, Any] = {}
    for r in routes:
        request = r.request.DESCRIPTOR
        params = []
        for segment in r.path.split("/"):
            if segment.startswith("{"):
                params.append({"name": segment[1:-1], "in": "path", "required": True,
                               "schema": {"type": "string"}})
        for key in r.query:
            params.append({"name": key, "in": "query", "required": False,
                           "schema": _field_schema(request.fields_by_name[key], schemas)})
        operation: dict[str, Any] = {
            "summary": r.summary, "operationId": r.rpc.rsplit("/", 1)[1],
            "description": f"The same operation as gRPC {r.rpc}, with its roles.",
            "parameters": params,
            "responses": {
                "201" if r.created else "200": {"description": "done", "content": {
                    "application/json": {"schema": {
                        "$ref": f"#/components/schemas/{_schema(r.reply.DESCRIPTOR, schemas)}"
                    }}}},
                "default": {"description": "an error (400 invalid or infeasible, 401 no "
                            "token, 403 role missing, 404 not found, 409 exists, 503 "
                            "unavailable)", "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/Error"}}}}},
            "security": [{"bearer": []}]}
        if r.body_field is not None:
            body = (request.fields_by_name[r.body_field].message_type if r.body_field
                    else request)
            operation["requestBody"] = {"required": bool(r.body_field), "content": {
                "application/json": {"schema": {
                    "$ref": f"#/components/schemas/{_schema(body, schemas)}"}}}}
        paths.setdefault(r.path, {})[r.verb.lower()] = operation
    paths["/api/v1/events"] = {"get": {
        "summary": "Mission events as Server-Sent Events (event: mission, data: a "
                   "MissionEventMessage)", "operationId": "WatchEvents",
        "parameters": [{"name": "mission_id", "in": "query", "schema": {"type": "string"}},
                       {"name": "after_seq", "in": "query", "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "an event stream",
                              "content": {"text/event-stream": {}}}},
        "security": [{"bearer": []}]}}
    return {"openapi": "3.1.0",
            "info": {"title": "fleet control center", "version": metadata.version("fleet")},
            "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"}}}}
