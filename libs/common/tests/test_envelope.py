"""The CloudEvents envelope conforms to the official schema and names types as agreed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import jsonschema
import pytest

from wps_common.events.contracts import TrackCompleted, TrackFacts, TraineeProfileChanged
from wps_common.events.envelope import CloudEvent, EventPayload, envelope_json, rfc3339

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


# Text a serializer could write differently: quotes, backslashes, control characters, non-ASCII
# letters, the line separators JSON allows raw, and a character outside the BMP.
AWKWARD = 'O\'Brien "Jr" \\ \t\n\x01\x7f Ёлкина Müller \u2028\u2029 😀 </script>'


@pytest.mark.parametrize(
    "trace",
    [
        {},
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        {
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "tracestate": "wps=1",
        },
    ],
)
def test_the_bulk_writers_json_is_byte_for_byte_the_models(trace: dict[str, str]) -> None:
    profile = TraineeProfileChanged(
        trainee_id="t-1",
        academy_id="a-1",
        academy_code="ACAD",
        academy_name=AWKWARD,
        employee_number="E-1",
        given_name=AWKWARD,
        family_name="Ёлкина",
        preferred_language="kk",
        active=False,
        changed_at=datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC),
    )
    at = datetime(2026, 11, 24, 11, 12, 13, 456789, tzinfo=UTC)
    for payload in (completed(), profile):
        model = CloudEvent.of(payload, event_id="e-1", trace=trace).model_copy(update={"time": at})
        fast = envelope_json(payload, event_id="e-1", time=rfc3339(at), trace=trace)
        assert fast == model.to_json()
        assert CloudEvent.model_validate_json(fast).to_json() == fast
        if SCHEMA_FILE.exists():
            schema = json.loads(SCHEMA_FILE.read_text())
            jsonschema.validate(json.loads(fast), schema, format_checker=jsonschema.FormatChecker())
