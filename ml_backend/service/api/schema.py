"""The one builder of OpenAPI pieces that every route module describes its routes with.

Each route module exports ``OPENAPI_PATHS`` (and ``OPENAPI_SCHEMAS`` where it has its own
objects) made with these helpers; ``openapi.document()`` merges them. One builder, so an error
answer, a parameter or a body is written the same way everywhere and the document cannot drift
apart module by module.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
Answer = tuple[int, str, Schema | None]

# Job ids are hex; "estimate" is a route of its own (POST /api/jobs/estimate), never a job id.
JOB_ID_SCHEMA: Schema = {"type": "string", "pattern": "^[0-9a-f]{1,64}$"}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def text_content(*media_types: str) -> Schema:
    """A response body that is text of these media types (HTML, CSV, JSON lines, Prometheus)."""
    return {"content": {media: {"schema": {"type": "string"}} for media in media_types}}


def operation(summary: str, ok: Answer, *more: Answer, errors: tuple[int, ...] = (400, 401),
              body: Schema | None = None, params: tuple[Schema, ...] = (), open_route: bool = False,
              content: Schema | None = None) -> Schema:
    """One operation: its success answers (JSON, or ``content`` for another media type), the
    JSON errors it may give, and its body and parameters."""
    responses: Schema = {}
    for status, description, schema in (ok, *more):
        body_of = content if content is not None else (json_content(schema) if schema else {})
        responses[str(status)] = {"description": description, **body_of}
    for code in errors:
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    op: Schema = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, **json_content(body)}
    if params:
        op["parameters"] = list(params)
    if open_route:
        op["security"] = [{}, {"basicAuth": []}]
    return op


def path_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def query_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


JOB_ID = path_param("job_id", JOB_ID_SCHEMA, "job id")
