"""The OpenAPI contract of a declared resource, as its service's FastAPI app publishes it.

A service's ``openapi.json`` is its versioned contract, written by msmvp and checked against the
running app by the generated contract test. The default item's part is kept by hand in the
template; a declared resource's part is computed here: its component schemas by pydantic itself,
from the same annotations the generated ``schemas.py`` writes (:func:`msmvp.domain.field_context`),
the way FastAPI builds them, and its operations as ``routes.py`` declares them. The results are
JSON text, indented to sit in ``openapi.json`` (:class:`Fragments`).

The security scheme's name belongs to the auth component (``openapi_security_scheme``), which this
module does not know: operations name :data:`SECURITY` and the template puts the name in its place.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import uuid
from functools import lru_cache
from typing import Annotated, Any, Literal

import pydantic
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema

REF = "#/components/schemas/{model}"
# Stands for the auth component's scheme name in the operations (see the module docstring).
SECURITY = "$SECURITY_SCHEME"
MAX_ID = 2_147_483_647
# What the generated schemas.py has in scope when it writes a field's annotation and default.
_SCOPE: dict[str, Any] = {
    "Annotated": Annotated,
    "Any": Any,
    "AwareDatetime": pydantic.AwareDatetime,
    "Decimal": decimal.Decimal,
    "EntityId": Annotated[int, pydantic.Field(gt=0, le=MAX_ID)],
    "Field": pydantic.Field,
    "Literal": Literal,
    "UUID": uuid.UUID,
    "bool": bool,
    "date": _dt.date,
    "datetime": _dt.datetime,
    "dict": dict,
    "int": int,
    "str": str,
}


def _python(text: str) -> Any:
    """The object a line of the generated schemas.py names: an annotation or a default value.

    Only msmvp writes these texts (field_context), from checked names, numbers and enum words, so
    this evaluates nothing a user typed verbatim; it keeps the contract on the very annotation the
    service validates with.
    """
    return eval(text, {"__builtins__": {}}, dict(_SCOPE))  # noqa: S307 - msmvp's own text, see above


def _models(resource: dict[str, Any]) -> list[tuple[type[pydantic.BaseModel], Literal["validation", "serialization"]]]:
    """``XIn``, ``XOut``, ``XPage`` and ``XPatch`` as schemas.py declares them, each with the mode
    FastAPI documents it in (request bodies: validation; responses: serialization)."""
    name = resource["class_name"]
    body = pydantic.ConfigDict(extra="forbid", str_strip_whitespace=True)
    full: dict[str, Any] = {}
    out: dict[str, Any] = {"id": (int, ...)}
    patch: dict[str, Any] = {}
    for f in resource["fields"]:
        annotation = _python(f["annotation"])
        default = _python(f["default_py"]) if f["has_default"] else None
        if f["required"]:
            full[f["name"]] = (annotation, default if f["has_default"] else ...)
        else:
            full[f["name"]] = (annotation | None, default)
        value = _python(f["py_type"])
        out[f["name"]] = (value | None if f["nullable"] else value, ...)
        patch[f["name"]] = (annotation | None, None)
    out.update(created_at=(_dt.datetime, ...), updated_at=(_dt.datetime, ...))
    model_in = pydantic.create_model(
        f"{name}In", __config__=body, __doc__=f"Body of POST and PUT: a full {resource['name']}.", **full
    )
    model_out = pydantic.create_model(f"{name}Out", __config__=pydantic.ConfigDict(from_attributes=True), **out)
    page = pydantic.create_model(
        f"{name}Page", items=(list[model_out], ...), total=(int, ...), limit=(int, ...), offset=(int, ...)
    )
    model_patch = pydantic.create_model(
        f"{name}Patch",
        __config__=body,
        __doc__="Body of PATCH (JSON merge patch, RFC 7396): the fields to change; null removes.",
        **patch,
    )
    return [
        (model_in, "validation"),
        (model_out, "serialization"),
        (page, "serialization"),
        (model_patch, "validation"),
    ]


def component_schemas(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource's four component schemas, by name, as FastAPI lists them (sorted)."""
    _, top = models_json_schema(_models(resource), ref_template=REF)
    return {name: _published(schema) for name, schema in sorted(top["$defs"].items())}


# FastAPI passes its document through its OpenAPI model, which lists a schema's keywords in the
# order of the JSON Schema 2020-12 vocabularies (core, applicator, validation, format, content,
# meta-data), types numeric bounds as floats and drops what is None (`exclude_none`).
_KEYWORDS = " ".join(
    (
        "$schema $vocabulary $id $anchor $dynamicAnchor $ref $dynamicRef $defs $comment",
        "allOf anyOf oneOf not if then else dependentSchemas prefixItems items contains properties",
        "patternProperties additionalProperties propertyNames unevaluatedItems unevaluatedProperties",
        "type enum const multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength minLength",
        "pattern maxItems minItems uniqueItems maxContains minContains maxProperties minProperties required",
        "dependentRequired format contentEncoding contentMediaType contentSchema title description default",
        "deprecated readOnly writeOnly examples discriminator xml externalDocs example",
    )
).split()
_ORDER = {keyword: index for index, keyword in enumerate(_KEYWORDS)}
_FLOATS = frozenset({"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"})
_BY_NAME = frozenset({"$defs", "properties", "patternProperties", "dependentSchemas"})


def _published(schema: Any) -> Any:
    """``schema`` (a JSON schema or a list of them) as FastAPI publishes it."""
    if isinstance(schema, list):
        return [_published(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key in sorted(schema, key=lambda k: _ORDER.get(k, len(_ORDER))):
        value = schema[key]
        if value is None:
            continue
        if key in _FLOATS and isinstance(value, int):
            value = float(value)
        elif key in _BY_NAME and isinstance(value, dict):
            value = {name: _published(sub) for name, sub in value.items()}
        elif key not in ("enum", "const", "default", "examples", "example", "required"):
            value = _published(value)
        out[key] = value
    return out


# -- operations, as routes.py declares them ----------------------------------------------------

_ERRORS = {
    "401": "Missing or invalid bearer token",
    "403": "The token lacks the required role",
    "422": "The request is not valid",
    "429": "Too many requests (the gateway's rate limit)",
    "500": "An internal error",
}
_NOT_FOUND = {"404": "No such entry"}
_BODY = {
    "413": "The request body is larger than MAX_BODY_BYTES",
    "415": "The request body is not of the accepted media type",
}
_CONDITIONAL = {
    "412": "If-Match does not name the entry's current ETag",
    "428": "If-Match is missing and REQUIRE_IF_MATCH is set",
}
_CONFLICT = {"409": "The entry conflicts with an existing one (a unique field), or is still referenced"}
_CREATE = {
    "400": "The Idempotency-Key header is malformed",
    "409": "A request with this Idempotency-Key is still being processed",
}
_DEPENDENCY = {
    "503": "A service this one depends on is unavailable (or its bulkhead is full)",
    "504": "A service this one depends on timed out",
}
_ETAG = {"ETag": {"description": "The entry's entity tag", "schema": {"type": "string"}}}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "The entry's current ETag; another one is refused with 412 (428 without it if required)",
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "A unique key per create: a retry with the same key and body returns the first answer",
}


def _ref(model: str) -> dict[str, Any]:
    return {"schema": {"$ref": REF.format(model=model)}}


def _problems(*groups: dict[str, str]) -> dict[str, Any]:
    return {
        status: {"description": text, "content": {"application/problem+json": _ref("ProblemBody")}}
        for group in groups
        for status, text in group.items()
    }


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    """A query parameter as FastAPI writes it (its description in the schema and beside it)."""
    title = name.replace("_", " ").title()
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {**schema, "description": description, **extra, "title": title},
        "description": description,
    }


class _AsGenerated(GenerateJsonSchema):
    """Keywords in the order pydantic writes them: FastAPI does not reorder a parameter's schema."""

    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:
        return value


def _list_parameters(resource: dict[str, Any]) -> list[dict[str, Any]]:
    sortable = ["id", *(f["name"] for f in resource["fields"] if f["sortable"]), "created_at"]
    sort = [key for name in sortable for key in (name, f"-{name}")]
    params = [
        _query("limit", {"type": "integer", "maximum": 100, "minimum": 1}, "Page size (at most 100)", default=20),
        _query("offset", {"type": "integer", "maximum": 1_000_000, "minimum": 0}, "Entries to skip", default=0),
        _query("sort", {"enum": sort, "type": "string"}, "Order by this field (-: descending)", default="-id"),
    ]
    for f in resource["fields"]:
        if f["filterable"]:
            adapter = pydantic.TypeAdapter(_python(f["filter_type"]) | None)
            schema = adapter.json_schema(ref_template=REF, schema_generator=_AsGenerated)
            params.append(_query(f["name"], schema, f"Only entries with this {f['name']}"))
    return params


def path_items(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource's collection and entry paths with their operations (routes.py's order)."""
    name = resource["class_name"]
    tags = [resource["tag"]]
    security: list[dict[str, list[str]]] = [{SECURITY: []}]
    depends = _DEPENDENCY if resource["remote_refs"] else {}
    entry_id = {
        "name": "item_id",
        "in": "path",
        "required": True,
        "schema": {
            "type": "integer",
            "maximum": MAX_ID,
            "minimum": 1,
            "description": f"The {resource['name']}'s id",
            "title": "Item Id",
        },
        "description": f"The {resource['name']}'s id",
    }

    def operation(summary: str, **parts: Any) -> dict[str, Any]:
        return {"tags": tags, "summary": summary, "security": security, **parts}

    def body(model: str, media: str = "application/json") -> dict[str, Any]:
        return {"required": True, "content": {media: _ref(model)}}

    def answer(description: str, model: str, **extra: Any) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": _ref(model)}, **extra}

    written = answer("Successful Response", f"{name}Out")
    collection = {
        "get": operation(
            f"List {resource['plural']}, filtered and sorted",
            parameters=_list_parameters(resource),
            responses={"200": answer("Successful Response", f"{name}Page"), **_problems(_ERRORS)},
        ),
        "post": operation(
            "Create an entry (Idempotency-Key: a retry returns the first answer)",
            requestBody=body(f"{name}In"),
            responses={
                "201": answer("Created", f"{name}Out", headers=_ETAG),
                **_problems(_ERRORS, _BODY, _CREATE, depends),
            },
            parameters=[_IDEMPOTENCY_KEY],
        ),
    }
    entry = {
        "get": operation(
            "Get one entry (ETag; If-None-Match gives 304)",
            parameters=[entry_id],
            responses={
                "200": answer("The entry", f"{name}Out", headers=_ETAG),
                **_problems(_ERRORS, _NOT_FOUND),
                "304": {"description": "Not modified"},
            },
        ),
        "put": operation(
            "Replace an entry (If-Match)",
            parameters=[entry_id, _IF_MATCH],
            requestBody=body(f"{name}In"),
            responses={"200": written, **_problems(_ERRORS, _NOT_FOUND, _BODY, _CONDITIONAL, _CONFLICT, depends)},
        ),
        "patch": operation(
            "Change some fields of an entry (JSON merge patch, RFC 7396; If-Match)",
            parameters=[entry_id, _IF_MATCH],
            requestBody=body(f"{name}Patch", "application/merge-patch+json"),
            responses={"200": written, **_problems(_ERRORS, _NOT_FOUND, _BODY, _CONDITIONAL, _CONFLICT, depends)},
        ),
        "delete": operation(
            "Delete an entry (admin; If-Match)",
            parameters=[entry_id, _IF_MATCH],
            responses={
                "204": {"description": "Successful Response"},
                **_problems(_ERRORS, _NOT_FOUND, _CONDITIONAL, _CONFLICT),
            },
        ),
    }
    return {resource["path"]: collection, f"{resource['path']}/{{item_id}}": entry}


# -- as text in openapi.json ---------------------------------------------------------------------


def _members(mapping: dict[str, Any], indent: int) -> str:
    """The members of ``mapping`` as ``json.dumps(indent=2)`` writes them inside a document,
    ``indent`` spaces deep, without the braces (the template writes the commas between parts)."""
    text = json.dumps(mapping, indent=2)
    lines = text.splitlines()[1:-1]
    pad = " " * (indent - 2)
    return "\n".join(pad + line for line in lines)


@lru_cache(maxsize=256)
def fragments(key: str) -> dict[str, str]:
    """The ``paths`` and ``schemas`` members of the resource ``key`` (its context as sorted JSON)."""
    resource = json.loads(key)
    return {"paths": _members(path_items(resource), 4), "schemas": _members(component_schemas(resource), 6)}
