"""OpenAPI `links` for /openapi.json, derived from the operations already described there.

A link says "the value in this answer is what that operation takes": POST /v1/users answers
`{"id": "user:12", ...}` and GET/PATCH/PUT/DELETE /v1/users/{user_id} take 12. Stateful clients
(schemathesis, tests/test_api_stateful_served.py) chain calls along them. Derived, not declared
per route, so a new fact kind or workflow step is linked as soon as it is declared.

Answers name entities as "type:N" while paths take N, which no standard runtime expression can
split: the parameter expressions carry schemathesis' `#regex:` extractor (one capturing group).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DIGITS_OF_REF = r"^[a-z_]+:([0-9]+)$"  # "user:12" -> "12"
_ITEM_PATH = re.compile(r"^(?P<collection>/v1/[a-z-]+)/\{(?P<param>(?P<kind>[a-z_]+)_id)\}(?:/.*)?$")
# answer fields that hold a reference to an entity of another name
ALIASES = {"customer": "organization", "partner": "organization"}


@dataclass(frozen=True)
class Target:
    """An operation that takes one entity's id in its path."""

    path: str
    method: str
    operation_id: str
    param: str
    integer: bool                       # the path takes N (integer) rather than the answer's value as is
    query: tuple[str, ...]              # its required query parameters (a link may carry them over)


def add_links(paths: dict[str, dict[str, Any]], schemas: dict[str, Any]) -> None:
    """Add `links` to the success answers of `paths` (an OpenAPI paths object, changed in place)."""
    targets, collections = _targets(paths)
    for path, item in paths.items():
        for method, operation in item.items():
            if method in ("get", "delete"):
                continue  # a read or a delete answers what its request already named
            source_kind = collections.get(path) or _kind_of_item(path)
            for status, answer in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                fields = _answer_fields(answer, schemas)
                links = _links_from(fields, source_kind, targets, _body_fields(operation, schemas))
                if links:
                    answer["links"] = links


def _targets(paths: dict[str, dict[str, Any]]) -> tuple[dict[str, list[Target]], dict[str, str]]:
    """Operations by the entity kind (or string parameter) their path takes; collection path -> kind."""
    targets: dict[str, list[Target]] = {}
    collections: dict[str, str] = {}
    for path, item in paths.items():
        for method, operation in item.items():
            path_params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            if len(path_params) != 1:
                continue
            param = path_params[0]
            integer = param["schema"].get("type") == "integer"
            match = _ITEM_PATH.match(path)
            if integer and match and match.group("param") == param["name"]:
                key = match.group("kind")
                collections[match.group("collection")] = key
            elif not integer:
                key = param["name"]  # e.g. decision_id: taken as the answer gives it
            else:
                continue
            query = tuple(p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p["required"])
            targets.setdefault(key, []).append(
                Target(path, method, operation["operationId"], param["name"], integer, query))
    return targets, collections


def _kind_of_item(path: str) -> str | None:
    match = _ITEM_PATH.match(path)
    return match.group("kind") if match else None


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return schemas.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def _answer_fields(answer: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    """The answer's string-valued fields (nullable ones included: a null simply links nowhere)."""
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if not schema:
        return []
    fields = []
    for name, prop in _resolve(schema, schemas).get("properties", {}).items():
        types = {prop.get("type")} | {alt.get("type") for alt in prop.get("anyOf", [])}
        if "string" in types:
            fields.append(name)
    return fields


def _body_fields(operation: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    return set(_resolve(schema, schemas).get("properties", {})) if schema else set()


def _links_from(fields: list[str], source_kind: str | None, targets: dict[str, list[Target]],
                body_fields: set[str]) -> dict[str, Any]:
    links: dict[str, Any] = {}
    for field in fields:
        kind = source_kind if field == "id" else ALIASES.get(field, field)
        for target in targets.get(kind or "", []):
            expression = f"$response.body#/{field}" + (f"#regex:{DIGITS_OF_REF}" if target.integer else "")
            parameters = {f"path.{target.param}": expression}
            for name in target.query:
                if name in body_fields:  # e.g. acting_user: the same user goes on asking
                    parameters[f"query.{name}"] = f"$request.body#/{name}"
            name = target.operation_id if field == "id" else f"{target.operation_id}_by_{field}"
            links[name] = {"operationId": target.operation_id, "parameters": parameters,
                           "description": f"{target.method.upper()} {target.path} with this answer's `{field}`"}
    return links
