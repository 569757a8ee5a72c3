"""The committed event documents match the code, and every example is a valid event."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from wps_common.events import catalogue

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs" / "events"
CLOUDEVENTS = ROOT.parent / "shared" / "conformance" / "cloudevents-1.0.schema.json"


def test_committed_event_docs_are_current() -> None:
    assert catalogue.main(["--check", "--out", str(DOCS)]) == 0, "run `make event-docs`"


@pytest.mark.parametrize(
    "payload_class", catalogue.documented_types(), ids=lambda c: c.event_type()
)
def test_each_example_validates_against_its_schema_and_cloudevents(payload_class: type) -> None:
    schema = catalogue.event_schema(payload_class)
    jsonschema.Draft202012Validator.check_schema(schema)
    example = catalogue.example_event(payload_class)
    checker = jsonschema.FormatChecker()
    jsonschema.Draft202012Validator(schema, format_checker=checker).validate(example)
    if CLOUDEVENTS.exists():
        jsonschema.validate(example, json.loads(CLOUDEVENTS.read_text()), format_checker=checker)


def test_public_events_have_no_personal_fields() -> None:
    forbidden = {"given_name", "family_name", "name", "gender", "email", "reason", "comment"}
    for payload_class in catalogue.documented_types():
        if payload_class.restricted:
            continue
        keys = _keys(catalogue.event_schema(payload_class)["properties"]["data"])
        keys |= _keys(catalogue.event_schema(payload_class).get("$defs", {}))
        assert not keys & forbidden, (payload_class.event_type(), keys & forbidden)


def _keys(schema: object) -> set[str]:
    """Every property name declared anywhere in a JSON Schema fragment."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                found |= set(value)
            found |= _keys(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= _keys(item)
    return found


def test_asyncapi_document_names_every_type() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert document["asyncapi"].startswith("3.")
    names = {m["name"] for m in document["components"]["messages"].values()}
    assert names == {c.event_type() for c in catalogue.documented_types()}
