"""Whether an event's JSON Schema may replace its released version: what the new one breaks.

A released version is a promise to every consumer: an event valid under it stays valid, and every
field it names stays there. So the new schema must accept everything the released one accepts
(no narrowed type, lowered limit, removed enum value or new required field) and keep every
property (a rename is a removal). New optional fields, wider types and new enum values pass.
Covers the JSON Schema that pydantic generates: type, enum/const, anyOf/oneOf, properties,
required, items, $ref into $defs, string and number limits, pattern and format.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems")
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


def incompatibilities(released: Schema, current: Schema) -> list[str]:
    """Each way `current` breaks a consumer of `released`; empty when it is a compatible change."""
    return _Comparison(released.get("$defs", {}), current.get("$defs", {})).schema(
        released, current, "$"
    )


class _Comparison:
    def __init__(self, old_defs: Schema, new_defs: Schema) -> None:
        self.old_defs = old_defs
        self.new_defs = new_defs
        self.seen: set[tuple[str, str]] = set()

    def schema(self, old: Schema, new: Schema, path: str) -> list[str]:
        old, new = self._resolve(old, self.old_defs), self._resolve(new, self.new_defs)
        problems: list[str] = []
        new_branches = _branches(new)
        for branch in _branches(old):
            candidates = [self.branch(branch, option, path) for option in new_branches]
            if not any(not found for found in candidates):
                closest: list[str] = min(candidates, key=len)
                problems += closest
        return problems

    def branch(self, old: Schema, new: Schema, path: str) -> list[str]:
        old, new = self._resolve(old, self.old_defs), self._resolve(new, self.new_defs)
        key = (repr(sorted(old.items())), repr(sorted(new.items())))
        if key in self.seen:  # a recursive definition: already being compared further up
            return []
        self.seen.add(key)
        try:
            return self._branch(old, new, path)
        finally:
            self.seen.discard(key)

    def _branch(self, old: Schema, new: Schema, path: str) -> list[str]:
        old_types, new_types = _types(old), _types(new)
        if old_types is None and new_types is not None:
            return [f"{path}: type narrowed from any to {sorted(new_types)}"]
        if old_types is not None and not _accepts_types(new_types, old_types):
            return [f"{path}: type narrowed from {sorted(old_types)} to {sorted(new_types or [])}"]
        problems = _values(old, new, path) + _bounds(old, new, path)
        for keyword in ("pattern", "format"):
            if keyword in new and new.get(keyword) != old.get(keyword):
                problems.append(f"{path}: {keyword} {new[keyword]!r} added or changed")
        if "properties" in old or "properties" in new or "required" in new:
            problems += self._object(old, new, path)
        if "items" in old and "items" in new:
            problems += self.schema(old["items"], new["items"], f"{path}[]")
        return problems

    def _object(self, old: Schema, new: Schema, path: str) -> list[str]:
        problems: list[str] = []
        old_properties = old.get("properties", {})
        new_properties = new.get("properties", {})
        for name, old_property in old_properties.items():
            if name not in new_properties:
                problems.append(f"{path}.{name}: field removed (or renamed)")
            else:
                problems += self.schema(old_property, new_properties[name], f"{path}.{name}")
        for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
            problems.append(f"{path}.{name}: new required field")
        if (
            new.get("additionalProperties") is False
            and old.get("additionalProperties") is not False
        ):
            problems.append(f"{path}: additional properties no longer allowed")
        return problems

    def _resolve(self, schema: Schema, defs: Schema) -> Schema:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = {**defs[name], **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema


def _branches(schema: Schema) -> list[Schema]:
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            rest = {k: v for k, v in schema.items() if k not in (keyword, "title", "description")}
            return [{**rest, **option} for option in schema[keyword]]
    return [schema]


def _types(schema: Schema) -> set[str] | None:
    """The JSON types a branch accepts, or None when it does not restrict the type."""
    if "type" in schema:
        declared = schema["type"]
        return set(declared) if isinstance(declared, list) else {declared}
    values = _allowed_values(schema)
    if values is not None:
        return {_JSON_TYPES.get(type(value), "object") for value in values}
    return None


def _accepts_types(new: set[str] | None, old: set[str]) -> bool:
    if new is None:
        return True
    widened = new | ({"integer"} if "number" in new else set())
    return old <= widened


def _allowed_values(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _values(old: Schema, new: Schema, path: str) -> list[str]:
    new_values = _allowed_values(new)
    if new_values is None:
        return []
    old_values = _allowed_values(old)
    if old_values is None:
        return [f"{path}: narrowed to the values {new_values}"]
    removed = [value for value in old_values if value not in new_values]
    return [f"{path}: value {value!r} removed" for value in removed]


def _bounds(old: Schema, new: Schema, path: str) -> list[str]:
    problems = []
    for keyword in _LOWER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
            problems.append(f"{path}: {keyword} raised to {new[keyword]}")
    for keyword in _UPPER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
            problems.append(f"{path}: {keyword} lowered to {new[keyword]}")
    return problems
