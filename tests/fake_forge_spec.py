"""The API specs the fake forge obeys: route matching, request checks, spec-shaped responses."""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

SPEC_DIRECTORY = Path(
    os.environ.get("FAKE_FORGE_SPEC_DIR", Path(__file__).resolve().parents[2] / "shared" / "specs")
)
SPEC_FILES = {"gitea": "forgejo-v1.json", "github": "github-rest-subset.json"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head")


@dataclass(frozen=True)
class Operation:
    """One spec'd operation matched by a request, with its path parameters."""

    family: str
    method: str
    template: str
    params: dict[str, str]
    definition: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    segments: tuple[str, ...]
    pattern: re.Pattern[str]
    literal_count: int


class ApiSpec:
    """One API family's spec: `gitea` (Swagger 2, under /api/v1) or `github` (OpenAPI 3)."""

    def __init__(self, family: str, document: dict[str, Any]) -> None:
        self.family = family
        self.document = document
        self.prefix = document.get("basePath", "").rstrip("/")
        self.routes: list[_Route] = []
        for template, item in document["paths"].items():
            for method in item:
                if method in HTTP_METHODS:
                    self.routes.append(_make_route(method.upper(), template))
        self._examples: dict[str, Any] = {}

    def match(self, method: str, raw_path: str) -> Operation | str:
        """The operation for a request, or the reason there is none."""
        segments = raw_path.strip("/").split("/")
        candidates = []
        for route in self.routes:
            if len(route.segments) != len(segments):
                continue
            found = route.pattern.fullmatch("/".join(segments))
            if found:
                candidates.append((route, found))
        if not candidates:
            return f"no path in the {self.family} spec matches {raw_path}"
        with_method = [(route, found) for route, found in candidates if route.method == method]
        if not with_method:
            templates = sorted({route.template for route, _ in candidates})
            return f"{method} is not spec'd for {templates} in the {self.family} spec"
        with_method.sort(key=lambda pair: -pair[0].literal_count)
        problems = []
        for route, found in with_method:
            params = {name: unquote(value) for name, value in found.groupdict().items()}
            definition = self.document["paths"][route.template][route.method.lower()]
            problem = self._check_path_params(definition, params)
            if problem is None:
                return Operation(self.family, method, route.template, params, definition)
            problems.append(f"{route.template}: {problem}")
        return "; ".join(problems)

    def _check_path_params(self, definition: dict[str, Any], params: dict[str, str]) -> str | None:
        for parameter in self.parameters(definition, "path"):
            kind = parameter.get("type") or parameter.get("schema", {}).get("type")
            if kind == "integer" and not re.fullmatch(r"-?\d+", params.get(parameter["name"], "")):
                return f"path parameter {parameter['name']!r} must be an integer"
        return None

    def parameters(self, definition: dict[str, Any], location: str) -> list[dict[str, Any]]:
        resolved = [self.resolve(parameter) for parameter in definition.get("parameters", [])]
        return [parameter for parameter in resolved if parameter.get("in") == location]

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def check_query(self, operation: Operation, query: dict[str, str]) -> list[str]:
        known = {parameter["name"] for parameter in self.parameters(operation.definition, "query")}
        return [f"unknown query parameter {name!r}" for name in query if name not in known]

    def body_schema(self, operation: Operation) -> dict[str, Any] | None:
        if self.family == "gitea":
            bodies = self.parameters(operation.definition, "body")
            return bodies[0].get("schema") if bodies else None
        request_body = self.resolve(operation.definition.get("requestBody"))
        if not request_body:
            return None
        return request_body.get("content", {}).get("application/json", {}).get("schema")

    def check_body(self, operation: Operation, body: Any) -> list[str]:
        schema = self.body_schema(operation)
        if schema is None:
            return [] if body is None else ["this operation takes no body"]
        if body is None:
            required = bool(
                self.resolve(operation.definition.get("requestBody", {})).get("required")
            )
            return ["a JSON body is required"] if required else []
        return self.check(schema, body, "body", request=True)

    def response_schema(self, operation: Operation, status: int) -> dict[str, Any] | None:
        response = self.resolve(operation.definition.get("responses", {}).get(str(status)))
        if not response:
            return None
        if self.family == "gitea":
            return response.get("schema")
        return response.get("content", {}).get("application/json", {}).get("schema")

    def spec_statuses(self, operation: Operation) -> set[int]:
        return {int(code) for code in operation.definition.get("responses", {}) if code.isdigit()}

    def check(
        self, schema: Any, value: Any, where: str, *, request: bool, top: bool = True
    ) -> list[str]:
        """Problems of `value` against `schema`: required, types, enums, unknown request keys."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict) or where.count(".") + where.count("[") > 12:
            return []
        if "allOf" in schema:
            return [
                p
                for part in schema["allOf"]
                for p in self.check(part, value, where, request=request, top=top)
            ]
        for key in ("oneOf", "anyOf"):
            if key in schema:
                results = [
                    self.check(part, value, where, request=request, top=top) for part in schema[key]
                ]
                return [] if any(not result for result in results) else results[0]
        if value is None:
            nullable = schema.get("nullable") or schema.get("x-nullable") or self.family == "gitea"
            return [] if nullable or not request else [f"{where} must not be null"]
        kind = schema.get("type")
        if kind and not _has_type(value, kind):
            return [f"{where} must be {kind}, got {type(value).__name__}"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{where} must be one of {schema['enum']}, got {value!r}"]
        problems: list[str] = []
        if isinstance(value, dict):
            properties = schema.get("properties", {})
            required = schema.get("required", [])
            problems += [f"{where}.{name} is required" for name in required if name not in value]
            if request and top and properties and not schema.get("additionalProperties"):
                problems += [
                    f"{where}.{name} is not a known property"
                    for name in value
                    if name not in properties
                ]
            for name, item in value.items():
                if name in properties:
                    problems += self.check(
                        properties[name], item, f"{where}.{name}", request=request, top=False
                    )
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                problems += self.check(
                    schema["items"], item, f"{where}[{index}]", request=request, top=False
                )
        return problems

    def shape(self, schema_name: str, overlay: dict[str, Any]) -> dict[str, Any]:
        """A body with every required field of a GitHub schema, then the fake's real values."""
        if schema_name not in self._examples:
            schema = {"$ref": f"#/components/schemas/{schema_name}"}
            self._examples[schema_name] = self.example(schema, 0)
        return {**copy.deepcopy(self._examples[schema_name]), **overlay}

    def example(self, schema: Any, depth: int) -> Any:
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return None
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                value = self.example(part, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
            return merged
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return self.example(schema[key][0], depth + 1)
        if (schema.get("nullable") and depth > 0) or depth > 8:
            return None
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            return {
                name: self.example(properties.get(name, {}), depth + 1)
                for name in schema.get("required", [])
            }
        formats = {"date-time": "2024-01-01T00:00:00Z", "uri": "https://example.invalid/"}
        defaults = {"string": formats.get(schema.get("format", ""), ""), "integer": 0}
        defaults |= {"number": 0, "boolean": False, "array": []}
        return defaults.get(kind) if isinstance(kind, str) else None


def _make_route(method: str, template: str) -> _Route:
    segments = tuple(template.strip("/").split("/"))
    parts, literal_count = [], 0
    for segment in segments:
        pieces = re.split(r"(\{[^}]+\})", segment)
        regex = ""
        for piece in pieces:
            if piece.startswith("{") and piece.endswith("}"):
                name = re.sub(r"\W", "_", piece[1:-1])
                regex += f"(?P<{name}>[^/]+?)"
            else:
                regex += re.escape(piece)
        literal_count += 0 if segment.startswith("{") and segment.endswith("}") else 1
        parts.append(regex)
    return _Route(method, template, segments, re.compile("/".join(parts)), literal_count)


def _has_type(value: Any, kind: Any) -> bool:
    if isinstance(kind, list):
        return any(_has_type(value, one) for one in kind)
    checks = {
        "string": lambda: isinstance(value, str),
        "integer": lambda: isinstance(value, int) and not isinstance(value, bool),
        "number": lambda: isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": lambda: isinstance(value, bool),
        "array": lambda: isinstance(value, list),
        "object": lambda: isinstance(value, dict),
        "null": lambda: value is None,
    }
    return checks.get(kind, lambda: True)()


@functools.cache
def load_spec(family: str) -> ApiSpec:
    """The spec of `gitea` or `github`, parsed once per process."""
    path = SPEC_DIRECTORY / SPEC_FILES[family]
    return ApiSpec(family, json.loads(path.read_text(encoding="utf-8")))
