"""The published event contract as documents: one JSON Schema per event type, an AsyncAPI 3.0
document and a catalogue page with an example of each — generated from the pydantic payloads.

    wps-event-docs [--check] [--release] [--out docs/events]

`--check` exits 1 when the committed documents differ from what the code would generate (CI).
`--release` also keeps the schema of each event type not released yet under `released/`, the
baseline its later changes are checked against (wps_common.events.compatibility); a released
schema is never rewritten.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from wps_common.events import contracts as c
from wps_common.events.envelope import CloudEvent, EventPayload

_NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
_TODAY = date(2026, 11, 23)
_MODULE = c.ModuleFacts(
    code="WPS-101",
    version=2,
    content_hash="9" * 64,
    title={
        "en": "The Women, Peace and Security agenda",
        "ru": "Повестка «Женщины, мир и безопасность»",
    },
    duration_hours=6,
    assessment="quiz",
    pass_mark=70,
    min_attendance_pct=80,
)
_TRACK = c.TrackFacts(
    code="GHR-FOUND",
    version=1,
    content_hash="7" * 64,
    title={"en": "Gender and human rights foundation", "ru": "Гендер и права человека: основы"},
    certificate_title={"en": "Gender and Human Rights Foundation", "ru": "Гендер и права человека"},
    validity_months=24,
    modules=[_MODULE],
)
_IDS = {
    "trainee_id": "5b0e6c1e-8f7a-4a59-9d3c-2f1b7f0c9a11",
    "employee_number": "KZ-000123",
    "academy_id": "0f3a9a52-1c1e-4bde-a7e4-3c2d6c0b7d10",
}
_ENROLMENT = {**_IDS, "enrolment_id": "c7d1b0de-5a55-4f0e-9a4c-6b9a1e2f3d44"}
_COHORT = "a1e2c3d4-0000-4000-8000-000000000001"
_CERT = "e4f5a6b7-1111-4222-8333-444455556666"

EXAMPLES: dict[type[EventPayload], EventPayload] = {
    c.ModulePublished: c.ModulePublished(module=_MODULE, published_at=_NOW),
    c.ModuleRetired: c.ModuleRetired(module_code="WPS-101", version=1, retired_at=_NOW),
    c.TrackPublished: c.TrackPublished(track=_TRACK, published_at=_NOW),
    c.TrackRetired: c.TrackRetired(track_code="GHR-FOUND", version=1, retired_at=_NOW),
    c.RequirementChanged: c.RequirementChanged(
        requirement_code="REQ-ALL-FOUND",
        revision=1,
        change="created",
        title={"en": "All personnel: gender and human rights foundation"},
        selector=c.Selector(),
        track_code="GHR-FOUND",
        grace_period_days=180,
        renewal_months=24,
        reminder_days=[60, 30, 7],
        changed_at=_NOW,
    ),
    c.ClearanceProfileChanged: c.ClearanceProfileChanged(
        profile_code="UN-PKO-PREDEPLOY",
        revision=1,
        change="created",
        title={"en": "UN peacekeeping pre-deployment"},
        items=[
            c.ClearanceItem(kind="module", code="WPS-101"),
            c.ClearanceItem(kind="module", code="SEAH-101"),
            c.ClearanceItem(kind="module", code="CRSV-301"),
        ],
        active=True,
        changed_at=_NOW,
    ),
    c.TraineeEnrolled: c.TraineeEnrolled(
        **_ENROLMENT,
        cohort_id=_COHORT,
        track_code="GHR-FOUND",
        track_version=1,
        status="enrolled",
        enrolled_at=_NOW,
    ),
    c.EnrolmentWithdrawn: c.EnrolmentWithdrawn(
        **_ENROLMENT, cohort_id=_COHORT, reason_code="operational", withdrawn_at=_NOW
    ),
    c.ModuleCompleted: c.ModuleCompleted(
        **_ENROLMENT,
        module_code="WPS-101",
        module_version=2,
        attendance_pct=100,
        score=86,
        completed_on=_TODAY,
        module=_MODULE,
    ),
    c.TrackCompleted: c.TrackCompleted(
        **_ENROLMENT, cohort_id=_COHORT, track=_TRACK, completed_on=_TODAY
    ),
    c.EnrolmentFailed: c.EnrolmentFailed(
        **_ENROLMENT,
        cohort_id=_COHORT,
        track_code="GHR-FOUND",
        module_code="WPS-101",
        attempts=3,
        failed_on=_TODAY,
    ),
    c.ComplianceChanged: c.ComplianceChanged(
        **_IDS,
        requirement_code="REQ-ALL-FOUND",
        previous_status="due",
        status="compliant",
        due_on=None,
        changed_at=_NOW,
    ),
    c.ComplianceSummarised: c.ComplianceSummarised(
        import_job_id="3c9d2e41-7b6a-4f0e-8d5c-1a2b3c4d5e6f",
        academy_id=_IDS["academy_id"],
        changes=[
            c.ComplianceCount(requirement_code="REQ-ALL-FOUND", status="due", count=11_904),
            c.ComplianceCount(requirement_code="REQ-ALL-FOUND", status="overdue", count=332),
        ],
        transitions=12_236,
        changed_since=_NOW,
        summarised_at=_NOW,
    ),
    c.TraineeProfileChanged: c.TraineeProfileChanged(
        **_IDS,
        academy_code="KZ-AST",
        academy_name="Astana Police Academy",
        given_name="Aigerim",
        family_name="Suleimenova",
        preferred_language="ru",
        active=True,
        changed_at=_NOW,
    ),
    c.CertificateIssued: c.CertificateIssued(
        **_ENROLMENT,
        certificate_id=_CERT,
        number="KZ-AST-2026-000042",
        track_code="GHR-FOUND",
        track_version=1,
        issued_on=_TODAY,
        expires_on=date(2028, 11, 23),
    ),
    c.CertificateRevoked: c.CertificateRevoked(
        **_ENROLMENT,
        certificate_id=_CERT,
        number="KZ-AST-2026-000042",
        track_code="GHR-FOUND",
        revoked_on=_TODAY,
    ),
    c.CertificateExpiring: c.CertificateExpiring(
        **_IDS,
        certificate_id=_CERT,
        track_code="GHR-FOUND",
        expires_on=date(2028, 11, 23),
        lead_days=60,
    ),
    c.CertificateExpired: c.CertificateExpired(
        **_IDS, certificate_id=_CERT, track_code="GHR-FOUND", expired_on=date(2028, 11, 23)
    ),
    c.DeadLetterRecorded: c.DeadLetterRecorded(
        consumer="certification",
        stream="TRAINING",
        stream_sequence=1042,
        original_subject="training.enrolment.track.completed",
        original_event_id="0d6f3c8e-2b1a-4c5d-9e8f-7a6b5c4d3e2f",
        original_type="org.wps-training.enrolment.track.completed.v1",
        deliveries=6,
        reason="failed 6 times: …",
    ),
}


def documented_types() -> list[type[EventPayload]]:
    """Every payload class of the platform's contract, in a stable order."""
    contract = [
        cls
        for cls in EventPayload.registry.values()
        if cls.__module__.startswith("wps_common.events.contracts.")
    ]
    return sorted(contract, key=lambda cls: cls.event_type())


def example_event(payload_class: type[EventPayload]) -> dict[str, Any]:
    payload = EXAMPLES[payload_class]
    event = CloudEvent.of(payload, event_id="3b241101-e2bb-4255-8caf-4136c566a962")
    event.time = _NOW
    body: dict[str, Any] = json.loads(event.to_json())
    return body


def event_schema(payload_class: type[EventPayload]) -> dict[str, Any]:
    data = payload_class.model_json_schema(mode="serialization")
    definitions = data.pop("$defs", {})
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": payload_class.schema_uri(),
        "title": payload_class.event_type(),
        "description": (payload_class.__doc__ or "").strip() or payload_class.event_type(),
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid", "description": "also the Nats-Msg-Id"},
            "source": {"const": f"urn:wps-training:{payload_class.service}"},
            "type": {"const": payload_class.event_type()},
            "time": {"type": "string", "format": "date-time"},
            "subject": {"type": "string", "description": "the record the event is about"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": payload_class.schema_uri()},
            "data": data,
            "traceparent": {
                "type": "string",
                "description": "W3C trace context of the operation that caused the event",
            },
            "tracestate": {"type": "string", "description": "W3C vendor trace state"},
        },
    }
    if definitions:
        schema["$defs"] = definitions
    return schema


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for payload_class in documented_types():
        name = payload_class.event_type().removeprefix("org.wps-training.").replace(".", "_")
        root = "restricted" if payload_class.restricted else "training"
        address = f"{root}.{payload_class.subject_suffix()}"
        messages[name] = {
            "name": payload_class.event_type(),
            "title": payload_class.event_type(),
            "summary": (payload_class.__doc__ or "").strip().split("\n")[0] or address,
            "contentType": "application/cloudevents+json",
            "payload": {"$ref": f"./schemas/{payload_class.event_type()}.json"},
            "examples": [{"name": "example", "payload": example_event(payload_class)}],
        }
        channels[name] = {
            "address": address,
            "description": (
                "Restricted stream TRAINING_RESTRICTED: platform services only."
                if payload_class.restricted
                else "Stream TRAINING (subjects training.>)."
            ),
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"receive_{name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"Published by the {payload_class.service} service.",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "WPS Training Platform events",
            "version": "1.0.0",
            "description": (
                "CloudEvents 1.0 (structured JSON) on NATS JetStream. Subscribe with a durable "
                "pull consumer on stream TRAINING (subjects training.>), explicit ack. The "
                "CloudEvent id is the Nats-Msg-Id: treat a repeated id as already handled. "
                "Events carry ids and facts, never names, gender or free text."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "embedded": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "make run prints the embedded server's actual port",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def catalogue_page() -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated by `wps-event-docs` from the payload models in",
        "`libs/common/src/wps_common/events/contracts/`; CI fails when this page, the JSON",
        "Schemas in `schemas/` or `asyncapi.yaml` drift from the code. Envelope: CloudEvents 1.0",
        "structured JSON; `id` doubles as the JetStream `Nats-Msg-Id`; `traceparent` and",
        "`tracestate` (the distributed-tracing extension) carry the W3C trace context.",
        "",
        "## Versions",
        "",
        "Types change only compatibly within a major version (`.v1`). `released/` keeps the",
        "schema of each type as first released; a test compares every current schema with it.",
        "Compatible: a new optional field, a wider type, a new enum value. Incompatible: a field",
        "removed or renamed, a type narrowed (string to enum, number to integer, nullable to",
        "non-null, a limit tightened), a new required field, an enum value removed.",
        "",
        "An incompatible change is a new type: add a payload class with the next version",
        "(`major = 2`, so `….v2`) beside the old one, give it an example in",
        "`wps_common.events.catalogue`, publish both while consumers move, and run",
        "`wps-event-docs --release` to keep the new type's schema. Never edit a file in",
        "`released/`.",
        "",
        "| type | NATS subject | stream |",
        "|---|---|---|",
    ]
    for payload_class in documented_types():
        root = "restricted" if payload_class.restricted else "training"
        stream = "TRAINING_RESTRICTED" if payload_class.restricted else "TRAINING"
        lines.append(
            f"| [`{payload_class.event_type()}`](#{_anchor(payload_class)}) | "
            f"`{root}.{payload_class.subject_suffix()}` | {stream} |"
        )
    for payload_class in documented_types():
        doc = " ".join((payload_class.__doc__ or "").split())
        lines += [
            "",
            f"## {payload_class.event_type()}",
            "",
            doc or f"Published by the {payload_class.service} service.",
            "",
            f"Schema: [`schemas/{payload_class.event_type()}.json`]"
            f"(schemas/{payload_class.event_type()}.json)",
            "",
            "```json",
            json.dumps(example_event(payload_class), indent=2, ensure_ascii=False),
            "```",
        ]
    return "\n".join(lines) + "\n"


def _anchor(payload_class: type[EventPayload]) -> str:
    return payload_class.event_type().replace(".", "")


def render() -> dict[str, str]:
    """Relative path → file content, for everything under docs/events/."""
    missing = [cls.event_type() for cls in documented_types() if cls not in EXAMPLES]
    if missing:
        raise SystemExit(f"add an example to wps_common.events.catalogue.EXAMPLES for {missing}")
    files = {
        f"schemas/{cls.event_type()}.json": json.dumps(
            event_schema(cls), indent=2, ensure_ascii=False
        )
        + "\n"
        for cls in documented_types()
    }
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi(), sort_keys=False, allow_unicode=True)
    files["README.md"] = catalogue_page()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wps-event-docs", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/events"))
    parser.add_argument("--check", action="store_true", help="fail if the committed docs drift")
    parser.add_argument(
        "--release", action="store_true", help="keep the schemas of types not released yet"
    )
    args = parser.parse_args(argv)
    files = render()
    if args.release:
        _release(args.out)
    if args.check:
        stale = [p for p, text in files.items() if _read(args.out / p) != text]
        extra = (
            [
                str(p.relative_to(args.out))
                for p in (args.out / "schemas").glob("*.json")
                if str(p.relative_to(args.out)) not in files
            ]
            if (args.out / "schemas").exists()
            else []
        )
        if stale or extra:
            print(f"event docs are out of date ({', '.join(stale + extra)}): run `make event-docs`")
            return 1
        print(f"event docs current ({len(files)} files)")
        return 0
    for old in (args.out / "schemas").glob("*.json") if (args.out / "schemas").exists() else []:
        old.unlink()
    for path, text in files.items():
        target = args.out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


def released_path(out: Path, payload_class: type[EventPayload]) -> Path:
    return out / "released" / f"{payload_class.event_type()}.json"


def _release(out: Path) -> None:
    for payload_class in documented_types():
        target = released_path(out, payload_class)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(event_schema(payload_class), indent=2, ensure_ascii=False)
            target.write_text(text + "\n")
            print(f"released {payload_class.event_type()}")


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
