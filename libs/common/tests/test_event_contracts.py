"""Every event type keeps the schema it was released with, up to compatible changes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from wps_common.events import catalogue
from wps_common.events.compatibility import incompatibilities

DOCS = Path(__file__).resolve().parents[3] / "docs" / "events"


@pytest.mark.parametrize(
    "payload_class", catalogue.documented_types(), ids=lambda c: c.event_type()
)
def test_each_event_type_is_compatible_with_its_released_schema(payload_class: type) -> None:
    released = catalogue.released_path(DOCS, payload_class)
    assert released.exists(), (
        f"{payload_class.event_type()} has no released schema: run `wps-event-docs --release`"
    )
    problems = incompatibilities(
        json.loads(released.read_text()), catalogue.event_schema(payload_class)
    )
    assert problems == [], (
        f"{payload_class.event_type()} changed incompatibly; publish a new major version "
        "instead (docs/events/README.md, Versions):\n" + "\n".join(problems)
    )


def test_every_released_schema_still_has_its_event_type() -> None:
    current = {c.event_type() for c in catalogue.documented_types()}
    released = {p.stem for p in (DOCS / "released").glob("*.json")}
    assert released <= current, f"released types no longer published: {released - current}"


def _payload() -> dict[str, Any]:
    """A small event payload schema in the shape pydantic generates."""
    return {
        "type": "object",
        "properties": {
            "trainee_id": {"type": "string", "maxLength": 36},
            "status": {"type": "string", "enum": ["due", "compliant"]},
            "score": {"type": "number"},
            "due_on": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
            "track": {"$ref": "#/$defs/Track"},
        },
        "required": ["trainee_id", "status", "score"],
        "$defs": {
            "Track": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "version": {"type": "integer"}},
                "required": ["code"],
            }
        },
    }


def _changed(change: Any) -> dict[str, Any]:
    schema = copy.deepcopy(_payload())
    change(schema)
    return schema


def _rename(schema: dict[str, Any]) -> None:
    schema["properties"]["learner_id"] = schema["properties"].pop("trainee_id")
    schema["required"][0] = "learner_id"


INCOMPATIBLE = {
    "field removed": lambda s: s["properties"].pop("score"),
    "field renamed": _rename,
    "string to enum": lambda s: s["properties"]["trainee_id"].update(enum=["a", "b"]),
    "number to integer": lambda s: s["properties"]["score"].update(type="integer"),
    "nullable to non-null": lambda s: s["properties"].update(
        due_on={"type": "string", "format": "date"}
    ),
    "maxLength lowered": lambda s: s["properties"]["trainee_id"].update(maxLength=20),
    "limit added": lambda s: s["properties"]["score"].update(maximum=100),
    "new required field": lambda s: (
        s["properties"].update(cohort_id={"type": "string"}),
        s["required"].append("cohort_id"),
    ),
    "optional field made required": lambda s: s["required"].append("due_on"),
    "enum value removed": lambda s: s["properties"]["status"].update(enum=["due"]),
    "field removed in a definition": lambda s: s["$defs"]["Track"]["properties"].pop("version"),
    "type narrowed in a definition": lambda s: s["$defs"]["Track"]["properties"]["code"].update(
        maxLength=5
    ),
    "pattern added": lambda s: s["properties"]["trainee_id"].update(pattern="^[0-9]+$"),
}

COMPATIBLE = {
    "unchanged": lambda s: None,
    "new optional field": lambda s: s["properties"].update(cohort_id={"type": "string"}),
    "integer widened to number": lambda s: s["$defs"]["Track"]["properties"]["version"].update(
        type="number"
    ),
    "non-null made nullable": lambda s: s["properties"].update(
        score={"anyOf": [{"type": "number"}, {"type": "null"}]}
    ),
    "enum widened to string": lambda s: s["properties"]["status"].pop("enum"),
    "new enum value": lambda s: s["properties"]["status"].update(
        enum=["due", "compliant", "exempt"]
    ),
    "maxLength raised": lambda s: s["properties"]["trainee_id"].update(maxLength=64),
    "required field made optional": lambda s: s["required"].remove("score"),
    "descriptions changed": lambda s: s["properties"]["score"].update(description="0-100"),
}


@pytest.mark.parametrize("change", INCOMPATIBLE.values(), ids=INCOMPATIBLE.keys())
def test_an_incompatible_change_is_found(change: Any) -> None:
    assert incompatibilities(_payload(), _changed(change)) != []


@pytest.mark.parametrize("change", COMPATIBLE.values(), ids=COMPATIBLE.keys())
def test_a_compatible_change_passes(change: Any) -> None:
    assert incompatibilities(_payload(), _changed(change)) == []


def test_the_problem_names_the_field() -> None:
    problems = incompatibilities(_payload(), _changed(INCOMPATIBLE["field removed"]))
    assert problems == ["$.score: field removed (or renamed)"]
