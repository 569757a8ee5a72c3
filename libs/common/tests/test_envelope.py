"""The CloudEvents envelope conforms to the official schema and names types as agreed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import jsonschema
import pytest

from wps_common.events.contracts import TrackCompleted, TrackFacts
from wps_common.events.envelope import CloudEvent, EventPayload

CONFORMANCE = Path(__file__).resolve().parents[3].parent / "shared" / "conformance"
SCHEMA_FILE = CONFORMANCE / "cloudevents-1.0.schema.json"


def completed() -> TrackCompleted:
    track = TrackFacts(
        code="GHR-FOUND",
        version=1,
        content_hash="ab" * 32,
        title={"en": "Foundation"},
        certificate_title={"en": "Foundation"},
        validity_months=24,
        modules=[],
    )
    return TrackCompleted(
        enrolment_id="e1",
        cohort_id="c1",
        trainee_id="t1",
        employee_number="E-1",
        academy_id="a1",
        track=track,
        completed_on=date(2026, 11, 23),
    )


def test_type_and_subject_follow_the_naming_rule() -> None:
    event = CloudEvent.of(completed())
    assert event.type == "org.wps-training.enrolment.track.completed.v1"
    assert TrackCompleted.subject_suffix() == "enrolment.track.completed"
    assert event.subject == "enrolment/e1"
    assert event.dataschema and event.dataschema.startswith("https://")


def test_envelope_validates_against_the_official_cloudevents_schema() -> None:
    if not SCHEMA_FILE.exists():
        pytest.skip(f"conformance schemas not found beside the project ({SCHEMA_FILE})")
    schema = json.loads(SCHEMA_FILE.read_text())
    body = json.loads(CloudEvent.of(completed()).to_json())
    jsonschema.validate(body, schema, format_checker=jsonschema.FormatChecker())
    assert body["time"].endswith("Z")
    assert body["specversion"] == "1.0"


def test_round_trip_restores_the_payload() -> None:
    event = CloudEvent.of(completed())
    again = CloudEvent.model_validate_json(event.to_json())
    payload_class = again.payload_class()
    assert payload_class is TrackCompleted
    assert payload_class.model_validate(again.data) == completed()
    assert again.time.tzinfo is not None and again.time <= datetime.now(UTC)


def test_every_registered_type_is_versioned_and_unique() -> None:
    types = list(EventPayload.registry)
    assert len(types) == len(set(types))
    assert all(
        t.startswith("org.wps-training.") and t.rsplit(".", 1)[1].startswith("v") for t in types
    )
