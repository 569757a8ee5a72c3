"""Who may do what, in one table: every resource family of the four services (curriculum,
enrolment, certification, webhooks), read and written by every kind of caller — a platform
admin, the academy admins and instructors of two academies A and B, a reviewer, a trainee of
each academy, two HR clients and nobody at all.

Each row is one endpoint and says, per caller, what the answer must be: 200/201/202/204 when
allowed, 401 without a token, 403 when the caller's role may not do it, 404 when the record
belongs to another academy or another client (it does not exist for them), and HIDDEN when a
list answers 200 without the record in it; 409 and 422 mark allowed requests that meet a
domain rule instead (another academy's trainee named in the body). Writes run against a
fresh resource per cell (or, where they change nothing, against the shared one), so no cell
depends on another; reads come first. Every cell runs, every mismatch is collected, and the
test fails once with the list.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from wps_certification.main import create_app as certification_app
from wps_certification.settings import CertificationSettings
from wps_common.natsserver import NatsServer
from wps_common.testing import auth, bus_settings, running_app, wait_until
from wps_curriculum.main import create_app as curriculum_app
from wps_curriculum.settings import CurriculumSettings
from wps_enrolment.main import create_app as enrolment_app
from wps_enrolment.settings import EnrolmentSettings
from wps_webhooks.main import create_app as webhooks_app
from wps_webhooks.settings import WebhooksSettings

# --- outcomes ----------------------------------------------------------------------------------

OK, CREATED, ACCEPTED, DONE = 200, 201, 202, 204
ANON = 401  # no token
ROLE = 403  # the caller's role may not do this
GONE = 404  # another academy's or another client's: it does not exist for this caller
TAKEN = 409  # allowed, and the request reached a domain rule (nothing changed)
INVALID = 422  # allowed, and the body names a record of another academy
HIDDEN = "200, not listed"  # a list answers, without the other tenant's record
Outcome = int | str

CALLERS = ("admin", "aaA", "aaB", "inA", "inB", "rev", "trA", "trB", "hr1", "hr2", "anon")
NAMES = {
    "admin": "admin",
    "aaA": "academy_admin A",
    "aaB": "academy_admin B",
    "inA": "instructor A",
    "inB": "instructor B",
    "rev": "reviewer",
    "trA": "trainee A (self)",
    "trB": "trainee B (other)",
    "hr1": "hr client 1 (owner)",
    "hr2": "hr client 2",
    "anon": "anonymous",
}

# The shapes most rows share, in CALLERS order.
EVERYONE = (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, ANON)
AUTHORS = (CREATED, CREATED, CREATED, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
OWNERS_CREATE = (CREATED, CREATED, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
ADMIN_ONLY = (OK, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
STAFF_A = (OK, OK, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
STAFF_A_CREATE = (CREATED, CREATED, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
STAFF_A_DONE = (DONE, DONE, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
TEACHING_A = (CREATED, CREATED, GONE, CREATED, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
# Enrolment records of academy A that every role may ask for: A's people, its trainee (self)
# and the HR clients (who see every academy) read them; B's people and the reviewer, who
# belongs to no academy, find nothing.
RECORD_OF_A = (OK, OK, GONE, OK, GONE, GONE, OK, GONE, OK, OK, ANON)
# Another trainee of A: a trainee sees only themself.
OTHER_TRAINEE_OF_A = (OK, OK, GONE, OK, GONE, GONE, GONE, GONE, OK, OK, ANON)
OVERSIGHT_A = (OK, OK, GONE, OK, GONE, ROLE, ROLE, ROLE, OK, OK, ANON)
ANALYSTS_A = (OK, OK, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, OK, OK, ANON)
CERTIFICATE_OF_A = (OK, OK, GONE, OK, GONE, ROLE, OK, GONE, OK, OK, ANON)
OTHER_CERTIFICATE_OF_A = (OK, OK, GONE, OK, GONE, ROLE, GONE, GONE, OK, OK, ANON)
REVOKERS_A = (OK, OK, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
SUBSCRIPTION_OF_1 = (OK, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, OK, GONE, ANON)
# Curriculum: another academy's draft (A's) is seen by its owners and the national roles.
DRAFT_OF_A = (OK, OK, GONE, GONE, GONE, OK, GONE, GONE, GONE, GONE, ANON)
# ... and changed by its owners and platform admins only; national curriculum by platform
# admins only (academy admins see it, so they are told why: 403).
CHANGE_A = (OK, OK, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
CHANGE_NATIONAL = (OK, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
# A module for academy B: a platform admin may name it, B's admin is its owner anyway.
AUTHORS_FOR_B = (CREATED, ROLE, CREATED, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)

Params = dict[str, str]
Fresh = Callable[["World", Params], Awaitable[Params]]


@dataclass(frozen=True)
class Row:
    """One endpoint. `path` and string values in `body` are templates over the world's ids, `{n}`
    (a number unique to the cell) and what `fresh` made for the cell."""

    service: str
    method: str
    path: str
    expect: tuple[Outcome, ...]
    body: Any = None
    fresh: Fresh | None = None
    lists: tuple[str, str] | None = None  # (item key, id template) a 200 list must contain
    csv: str | None = None  # a text/csv body instead of JSON
    form: dict[str, str] | None = None  # multipart form fields, with an evidence PDF

    def __post_init__(self) -> None:
        assert len(self.expect) == len(CALLERS), f"{self.method} {self.path}: one per caller"


@dataclass
class World:
    clients: dict[str, httpx.AsyncClient]
    ids: Params = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    certificates: list[str] = field(default_factory=list)  # fresh ones for revocation cells

    async def ok(
        self, service: str, method: str, path: str, as_: str, status: int = 200, **kw: Any
    ) -> Any:
        """A request of the set-up, which must succeed."""
        headers = {**self.headers[as_], **kw.pop("headers", {})}
        response = await self.clients[service].request(method, path, headers=headers, **kw)
        assert response.status_code == status, f"set-up {method} {path}: {response.text}"
        return response.json() if response.content else None


def fill(template: Any, params: Mapping[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**params)
    if isinstance(template, dict):
        return {key: fill(value, params) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(item, params) for item in template]
    return template


# --- the curriculum, academies, people and records the table reads and writes ------------------

MODULE: dict[str, Any] = {
    "title": {"en": "Women, Peace and Security"},
    "duration_hours": 6,
    "assessment": {"kind": "quiz", "pass_mark": 70},
    "min_attendance_pct": 80,
}
TRACK: dict[str, Any] = {
    "title": {"en": "Gender and human rights foundation"},
    "certificate_title": {"en": "Gender and Human Rights Foundation"},
    "modules": [{"code": "WPS-101", "version": 1}],
    "validity_months": 24,
}
# Requirements made by the table apply to nobody, so they cost enrolment no evaluation.
NOBODY = {"academies": ["XX-NOBODY"]}
REQUIREMENT: dict[str, Any] = {
    "title": {"en": "Matrix rule"},
    "selector": NOBODY,
    "track_code": "GHR-FOUND",
    "grace_period_days": 90,
}

PROFILE: dict[str, Any] = {
    "title": {"en": "Matrix pre-deployment"},
    "items": [{"kind": "module", "code": "WPS-101"}],
}


def trainee(academy: str, number: str) -> dict[str, Any]:
    return {
        "academy_id": academy,
        "employee_number": number,
        "given_name": "Aigerim",
        "family_name": "Bekova",
        "gender": "female",
    }


async def review(world: World, kind: str, code: str, *, author: str, until: str) -> None:
    """Take version 1 along submit → approve → publish → retire, stopping after `until`."""
    steps = [("submit", author), ("approve", "rev"), ("publish", author), ("retire", author)]
    for action, caller in steps:
        await world.ok("curriculum", "POST", f"/v1/{kind}/{code}/versions/1/{action}", caller)
        if action == until:
            return


def module_of_a(until: str | None = None) -> Fresh:
    async def make(world: World, params: Params) -> Params:
        code = f"ALA-M{params['n']}"
        body = {**MODULE, "code": code}
        await world.ok("curriculum", "POST", "/v1/modules", "aaA", 201, json=body)
        if until:
            await review(world, "modules", code, author="aaA", until=until)
        return {"module": code}

    return make


async def national_module(world: World, params: Params) -> Params:
    code = f"NAT-M{params['n']}"
    await world.ok("curriculum", "POST", "/v1/modules", "admin", 201, json={**MODULE, "code": code})
    return {"module": code}


async def track_of_a(world: World, params: Params) -> Params:
    code = f"ALA-T{params['n']}"
    await world.ok("curriculum", "POST", "/v1/tracks", "aaA", 201, json={**TRACK, "code": code})
    return {"track": code}


async def requirement(world: World, params: Params) -> Params:
    code = f"REQ-X{params['n']}"
    body = {**REQUIREMENT, "code": code}
    await world.ok("curriculum", "POST", "/v1/requirements", "admin", 201, json=body)
    return {"requirement": code}


async def clearance_profile(world: World, params: Params) -> Params:
    code = f"PKO-X{params['n']}"
    body = {**PROFILE, "code": code}
    await world.ok("curriculum", "POST", "/v1/clearance-profiles", "admin", 201, json=body)
    return {"profile": code}


PDF = b"%PDF-1.7\n%%EOF\n"
RECOGNITION = {
    "trainee_id": "{tA}",
    "track_code": "GHR-FOUND",
    "issuer": "OSCE Academy",
    "completed_on": "2026-01-15",
}


async def recognition_of_a(world: World, params: Params) -> Params:
    """Recorded by a third admin of A (aaA2), so that A's admin and a platform admin may
    decide on it (nobody decides on their own record)."""
    created = await world.ok(
        "enrolment",
        "POST",
        "/v1/recognitions",
        "aaA2",
        201,
        data=fill(RECOGNITION, params),
        files={"evidence": ("e.pdf", PDF, "application/pdf")},
    )
    return {"recognition": created["id"]}


async def trainee_of_a(world: World, params: Params) -> Params:
    body = trainee(world.ids["A"], f"FRESH-{params['n']}")
    created = await world.ok("enrolment", "POST", "/v1/trainees", "admin", 201, json=body)
    return {"trainee": created["id"]}


async def exempted_trainee_of_a(world: World, params: Params) -> Params:
    made = await trainee_of_a(world, params)
    path = f"/v1/trainees/{made['trainee']}/exemptions/REQ-ALL-FOUND"
    await world.ok("enrolment", "PUT", path, "admin", 204, json={"reason": "On mission abroad."})
    return made


async def due_dated_trainee_of_a(world: World, params: Params) -> Params:
    made = await trainee_of_a(world, params)
    path = f"/v1/trainees/{made['trainee']}/due-dates/REQ-ALL-FOUND"
    await world.ok("enrolment", "PUT", path, "admin", 204, json=DUE_DATE)
    return made


async def enrolment_of_a(world: World, params: Params) -> Params:
    made = await trainee_of_a(world, params)
    path = f"/v1/cohorts/{world.ids['C']}/enrolments"
    enrolment = await world.ok(
        "enrolment", "POST", path, "admin", 201, json={"trainee_id": made["trainee"]}
    )
    return {**made, "enrolment": enrolment["id"]}


async def certificate_of_a(world: World, params: Params) -> Params:
    return {"certificate": world.certificates.pop()}


async def subscription_of_1(world: World, params: Params) -> Params:
    created = await world.ok("webhooks", "POST", "/v1/webhooks", "hr1", 201, json=SUBSCRIPTION)
    return {"subscription": created["id"]}


SUBSCRIPTION: dict[str, Any] = {
    # A type nothing in this test emits: the subscription never makes a delivery.
    "url": "http://127.0.0.1:9/hooks/training",
    "event_types": ["certification.certificate.expired"],
    "secret": "matrix-secret-0123456789",
}

# --- the table ---------------------------------------------------------------------------------

# Expectations of single rows, in CALLERS order:
# admin, aaA, aaB, inA, inB, rev, trA, trB, hr1, hr2, anon.
DRAFTS_LISTED = (OK, OK, HIDDEN, HIDDEN, HIDDEN, OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN, ANON)
REVIEW_TRAIL = (OK, OK, GONE, ROLE, ROLE, OK, ROLE, ROLE, ROLE, ROLE, ANON)
RULE_TRAIL = (OK, OK, OK, ROLE, ROLE, OK, ROLE, ROLE, ROLE, ROLE, ANON)
COMMENTERS_A = (CREATED, CREATED, GONE, ROLE, ROLE, CREATED, ROLE, ROLE, ROLE, ROLE, ANON)
REVIEWERS = (ROLE, ROLE, ROLE, ROLE, ROLE, OK, ROLE, ROLE, ROLE, ROLE, ANON)
ADMIN_CREATES = (CREATED, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
ADMIN_DELETES = (DONE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
ACADEMIES_LISTED = (OK, OK, HIDDEN, OK, HIDDEN, HIDDEN, OK, HIDDEN, OK, OK, ANON)
OVERSIGHT_LISTED = (OK, OK, HIDDEN, OK, HIDDEN, ROLE, ROLE, ROLE, OK, OK, ANON)
OWN_RECORD = (GONE, GONE, GONE, GONE, GONE, GONE, OK, OK, GONE, GONE, ANON)
IMPORTERS_A = (ACCEPTED, ACCEPTED, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
IMPORTERS = (OK, OK, OK, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)  # no academy's data
CERTIFICATES_LISTED = (OK, OK, HIDDEN, OK, HIDDEN, ROLE, OK, HIDDEN, OK, OK, ANON)
OTHER_CERTIFICATES_LISTED = (OK, OK, HIDDEN, OK, HIDDEN, ROLE, HIDDEN, HIDDEN, OK, OK, ANON)
# Writing into academy B by naming it in the body.
STAFF_B_CREATE = (CREATED, GONE, CREATED, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
# Enrolling B's trainee in A's cohort: no role may, A's staff are told the trainee is unknown.
FOREIGN_TRAINEE = (INVALID, INVALID, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
PUBLIC = (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK)
REISSUERS_A = (TAKEN, TAKEN, GONE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
RECOGNITIONS_LISTED = (OK, OK, HIDDEN, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ANON)
SUBSCRIPTIONS_LISTED = (OK, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, OK, HIDDEN, ANON)
INTEGRATORS = (CREATED, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, CREATED, CREATED, ANON)

# Bodies.
NEW_MODULE = {**MODULE, "code": "NEW-M{n}"}
NEW_TRACK = {**TRACK, "code": "NEW-T{n}"}
NEW_REQUIREMENT = {**REQUIREMENT, "code": "REQ-N{n}"}
CHANGED_REQUIREMENT = {**REQUIREMENT, "grace_period_days": 30}
NEW_ACADEMY = {"code": "NEW-{n}", "name": "New academy", "country": "KZ"}
NEW_COHORT = {
    "academy_id": "{A}",
    "track_code": "GHR-FOUND",
    "title": "Matrix cohort",
    "starts_on": "2026-11-02",
    "ends_on": "2026-11-06",
    "capacity": 5,
}
FAIL = {"module_code": "WPS-101", "attendance_pct": 100, "score": 10}
IMPORT = "employee_number,given_name,family_name\nIMP-{n},Dana,Omarova\n"

M, E, X, W = "curriculum", "enrolment", "certification", "webhooks"
A_DRAFT = "/v1/modules/{A_MODULE}"
FRESH_MODULE_V1 = "/v1/modules/{module}/versions/1"
EXEMPTION = "/v1/trainees/{trainee}/exemptions/REQ-ALL-FOUND"
DUE_DATES = "/v1/trainees/{trainee}/due-dates/REQ-ALL-FOUND"
DUE_DATE = {"due_on": "2099-12-31", "reason": "Back from a long mission."}

ROWS: list[Row] = [
    # Curriculum, reading: the published curriculum is everyone's; A's draft is for its
    # owners and the national roles (platform admin, reviewer).
    Row(
        M, "GET", "/v1/modules?status=draft&limit=500", DRAFTS_LISTED, lists=("code", "{A_MODULE}")
    ),
    Row(M, "GET", "/v1/modules/WPS-101", EVERYONE),
    Row(M, "GET", A_DRAFT, DRAFT_OF_A),
    Row(M, "GET", A_DRAFT + "/versions", DRAFT_OF_A),
    Row(M, "GET", A_DRAFT + "/versions/1", DRAFT_OF_A),
    Row(M, "GET", A_DRAFT + "/diff?from=1&to=1", DRAFT_OF_A),
    Row(M, "GET", A_DRAFT + "/history", REVIEW_TRAIL),
    Row(M, "GET", "/v1/tracks/{A_TRACK}", DRAFT_OF_A),
    Row(M, "GET", "/v1/tracks?limit=500", EVERYONE, lists=("code", "GHR-FOUND")),
    Row(M, "GET", "/v1/tracks/GHR-FOUND/versions/1", EVERYONE),
    Row(M, "GET", "/v1/requirements/REQ-ALL-FOUND", EVERYONE),
    Row(M, "GET", "/v1/requirements/REQ-ALL-FOUND/history", RULE_TRAIL),
    Row(M, "GET", "/v1/clearance-profiles", EVERYONE),
    Row(M, "GET", "/v1/clearance-profiles/PKO-MATRIX", EVERYONE),
    Row(M, "GET", "/v1/clearance-profiles/PKO-MATRIX/history", RULE_TRAIL),
    # Enrolment, reading.
    Row(E, "GET", "/v1/academies?limit=500", ACADEMIES_LISTED, lists=("id", "{A}")),
    Row(E, "GET", "/v1/academies/{A}", RECORD_OF_A),
    Row(E, "GET", "/v1/trainees?limit=500", OVERSIGHT_LISTED, lists=("id", "{tA}")),
    Row(E, "GET", "/v1/trainees?academy_id={A}", OVERSIGHT_A),
    Row(E, "GET", "/v1/trainees/me", OWN_RECORD),
    Row(E, "GET", "/v1/trainees/{tA}", RECORD_OF_A),
    Row(E, "GET", "/v1/trainees/{tA}/history", STAFF_A),
    Row(E, "GET", "/v1/trainees/{tA}/enrolments", RECORD_OF_A),
    Row(E, "GET", "/v1/trainees/{tA}/compliance", RECORD_OF_A),
    Row(E, "GET", "/v1/trainees/{tA2}", OTHER_TRAINEE_OF_A),
    Row(E, "GET", "/v1/trainees/{tA2}/enrolments", OTHER_TRAINEE_OF_A),
    Row(E, "GET", "/v1/trainees/{tA2}/compliance", OTHER_TRAINEE_OF_A),
    Row(E, "GET", "/v1/cohorts?limit=500", OVERSIGHT_LISTED, lists=("id", "{C}")),
    Row(E, "GET", "/v1/cohorts/{C}", OVERSIGHT_A),
    Row(E, "GET", "/v1/cohorts/{C}/enrolments", OVERSIGHT_A),
    Row(E, "GET", "/v1/enrolments/{E}", RECORD_OF_A),
    Row(E, "GET", "/v1/enrolments/{E}/results", RECORD_OF_A),
    Row(E, "GET", "/v1/enrolments/{E2}", OTHER_TRAINEE_OF_A),
    Row(E, "GET", "/v1/enrolments/{E2}/results", OTHER_TRAINEE_OF_A),
    Row(E, "GET", "/v1/compliance?academy_id={A}", ANALYSTS_A),
    Row(E, "GET", "/v1/compliance/summary?academy_id={A}", ANALYSTS_A),
    Row(E, "GET", "/v1/reports/participation?academy_id={A}", ANALYSTS_A),
    Row(E, "GET", "/v1/reports/compliance?academy_id={A}&by=gender&across=rank", ANALYSTS_A),
    Row(
        E,
        "GET",
        "/v1/reports/compliance/monthly?academy_id={A}&from=2026-01-01&to=2026-03-31",
        ANALYSTS_A,
    ),
    # Deployment clearance: A's trainee (employee number KZ-ALA), for A's staff and HR.
    Row(E, "GET", "/v1/clearance?employee_number=KZ-ALA&profile=PKO-MATRIX", ANALYSTS_A),
    Row(E, "GET", "/v1/academies/{A}/trainees.csv", STAFF_A),
    Row(E, "GET", "/v1/imports/{J}", STAFF_A),
    Row(E, "GET", "/v1/imports/trainees/template", IMPORTERS),
    Row(E, "GET", "/v1/imports/trainees/template?format=xlsx", IMPORTERS),
    # Training done elsewhere: A's staff record and decide (never on their own record).
    Row(E, "GET", "/v1/recognitions?limit=500", RECOGNITIONS_LISTED, lists=("id", "{R}")),
    Row(E, "GET", "/v1/recognitions/{R}", STAFF_A),
    Row(E, "GET", "/v1/recognitions/{R}/evidence", STAFF_A),
    Row(E, "GET", "/v1/recognitions/{R}/history", STAFF_A),
    # Certification, reading (reviewers have no business with certificates).
    Row(X, "GET", "/v1/certificates?limit=500", CERTIFICATES_LISTED, lists=("id", "{X}")),
    Row(X, "GET", "/v1/certificates/{X}", CERTIFICATE_OF_A),
    Row(X, "GET", "/v1/certificates/{X}.pdf", CERTIFICATE_OF_A),
    Row(X, "GET", "/v1/certificates/{X}/credential", CERTIFICATE_OF_A),
    Row(X, "GET", "/v1/certificates?limit=500", OTHER_CERTIFICATES_LISTED, lists=("id", "{X2}")),
    Row(X, "GET", "/v1/certificates/{X2}", OTHER_CERTIFICATE_OF_A),
    Row(X, "GET", "/v1/verify/{code}", PUBLIC),
    # Webhooks, reading: a subscription is its client's (and a platform admin's).
    Row(W, "GET", "/v1/webhooks?limit=500", SUBSCRIPTIONS_LISTED, lists=("id", "{S}")),
    Row(W, "GET", "/v1/webhooks/{S}", SUBSCRIPTION_OF_1),
    Row(W, "GET", "/v1/webhooks/{S}/deliveries", SUBSCRIPTION_OF_1),
    Row(W, "POST", "/v1/webhooks/{S}/redeliver", SUBSCRIPTION_OF_1),  # nothing parked: no change
    # Curriculum, writing: academy admins author for their own academy; only A's admins and
    # platform admins change A's module; reviewers approve anyone's.
    Row(M, "POST", "/v1/modules", AUTHORS, body=NEW_MODULE),
    Row(M, "POST", "/v1/modules", AUTHORS_FOR_B, body={**NEW_MODULE, "owner_academy": "{B}"}),
    Row(M, "PUT", FRESH_MODULE_V1, CHANGE_A, body=MODULE, fresh=module_of_a()),
    Row(
        M,
        "POST",
        FRESH_MODULE_V1 + "/comments",
        COMMENTERS_A,
        body={"comment": "Cite 2467."},
        fresh=module_of_a(),
    ),
    Row(M, "POST", FRESH_MODULE_V1 + "/submit", CHANGE_A, fresh=module_of_a()),
    Row(M, "POST", FRESH_MODULE_V1 + "/submit", CHANGE_NATIONAL, fresh=national_module),
    Row(M, "POST", FRESH_MODULE_V1 + "/approve", REVIEWERS, fresh=module_of_a("submit")),
    Row(M, "POST", FRESH_MODULE_V1 + "/publish", CHANGE_A, fresh=module_of_a("approve")),
    Row(M, "POST", FRESH_MODULE_V1 + "/retire", CHANGE_A, fresh=module_of_a("publish")),
    Row(
        M,
        "POST",
        "/v1/modules/{module}/versions",
        OWNERS_CREATE,
        body=MODULE,
        fresh=module_of_a("publish"),
    ),
    Row(M, "POST", "/v1/tracks", AUTHORS, body=NEW_TRACK),
    Row(M, "POST", "/v1/tracks/{track}/versions/1/submit", CHANGE_A, fresh=track_of_a),
    Row(M, "POST", "/v1/requirements", ADMIN_CREATES, body=NEW_REQUIREMENT),
    Row(
        M,
        "PUT",
        "/v1/requirements/{requirement}",
        ADMIN_ONLY,
        body=CHANGED_REQUIREMENT,
        fresh=requirement,
    ),
    Row(M, "DELETE", "/v1/requirements/{requirement}", ADMIN_DELETES, fresh=requirement),
    Row(M, "POST", "/v1/clearance-profiles", ADMIN_CREATES, body={**PROFILE, "code": "NEW-P{n}"}),
    Row(
        M,
        "PUT",
        "/v1/clearance-profiles/{profile}",
        ADMIN_ONLY,
        body={**PROFILE, "title": {"en": "Changed"}},
        fresh=clearance_profile,
    ),
    Row(M, "POST", "/v1/clearance-profiles/{profile}/retire", ADMIN_ONLY, fresh=clearance_profile),
    # Enrolment, writing (the academy first: renaming it re-announces all its trainees).
    Row(E, "PATCH", "/v1/academies/{A}", STAFF_A, body={"name": "Almaty Police Academy"}),
    Row(E, "POST", "/v1/academies", ADMIN_CREATES, body=NEW_ACADEMY),
    Row(E, "POST", "/v1/trainees", STAFF_A_CREATE, body=trainee("{A}", "NEW-{n}")),
    Row(E, "POST", "/v1/trainees", STAFF_B_CREATE, body=trainee("{B}", "NEW-{n}")),
    Row(
        E, "PATCH", "/v1/trainees/{trainee}", STAFF_A, body={"rank": "Captain"}, fresh=trainee_of_a
    ),
    Row(E, "POST", "/v1/trainees/{trainee}/deactivate", STAFF_A, fresh=trainee_of_a),
    Row(E, "PUT", EXEMPTION, STAFF_A_DONE, body={"reason": "On a mission."}, fresh=trainee_of_a),
    Row(E, "DELETE", EXEMPTION, STAFF_A_DONE, fresh=exempted_trainee_of_a),
    Row(E, "PUT", DUE_DATES, STAFF_A_DONE, body=DUE_DATE, fresh=trainee_of_a),
    Row(E, "DELETE", DUE_DATES, STAFF_A_DONE, fresh=due_dated_trainee_of_a),
    Row(E, "POST", "/v1/academies/{A}/imports", IMPORTERS_A, csv=IMPORT),
    Row(E, "POST", "/v1/recognitions", STAFF_A_CREATE, form=RECOGNITION),
    Row(E, "POST", "/v1/recognitions/{recognition}/approve", STAFF_A, fresh=recognition_of_a),
    Row(
        E,
        "POST",
        "/v1/recognitions/{recognition}/reject",
        STAFF_A,
        body={"reason": "Not equivalent."},
        fresh=recognition_of_a,
    ),
    Row(E, "POST", "/v1/cohorts", STAFF_A_CREATE, body=NEW_COHORT),
    Row(E, "POST", "/v1/cohorts", STAFF_B_CREATE, body={**NEW_COHORT, "academy_id": "{B}"}),
    Row(E, "POST", "/v1/cohorts/{C}/enrolments", FOREIGN_TRAINEE, body={"trainee_id": "{tB}"}),
    Row(
        E,
        "POST",
        "/v1/cohorts/{C}/enrolments",
        STAFF_A_CREATE,
        body={"trainee_id": "{trainee}"},
        fresh=trainee_of_a,
    ),
    Row(
        E,
        "POST",
        "/v1/cohorts/{C}/enrolments/bulk",
        STAFF_A_CREATE,
        body={"trainee_ids": ["{trainee}"]},
        fresh=trainee_of_a,
    ),
    Row(
        E,
        "POST",
        "/v1/enrolments/{enrolment}/withdraw",
        STAFF_A,
        body={"reason_code": "operational"},
        fresh=enrolment_of_a,
    ),
    Row(
        E, "POST", "/v1/enrolments/{enrolment}/results", TEACHING_A, body=FAIL, fresh=enrolment_of_a
    ),
    Row(
        E,
        "POST",
        "/v1/cohorts/{C}/results",
        TEACHING_A,
        body={"entries": [{**FAIL, "trainee_id": "{trainee}"}]},
        fresh=enrolment_of_a,
    ),
    # Certification, writing. Re-issuing needs changed holder details: an allowed caller meets
    # that rule (409) and nothing changes.
    Row(
        X,
        "POST",
        "/v1/certificates/{certificate}/revoke",
        REVOKERS_A,
        body={"reason": "Issued in error."},
        fresh=certificate_of_a,
    ),
    Row(X, "POST", "/v1/certificates/{X}/reissue", REISSUERS_A),
    # Webhooks, writing.
    Row(W, "POST", "/v1/webhooks", INTEGRATORS, body=SUBSCRIPTION),
    Row(W, "DELETE", "/v1/webhooks/{subscription}", SUBSCRIPTION_OF_1, fresh=subscription_of_1),
]


# --- the platform and its set-up ---------------------------------------------------------------


@pytest.fixture
async def world(
    nats_server: NatsServer, database_factory: Callable[[str], str], tmp_path: Path
) -> AsyncIterator[World]:
    """The four services on one nats-server, and the records the table reads: academies A and
    B with a trainee each, a national track, a draft module of A, a cohort of A with the
    trainee of A enrolled and certified, a rule, an import of A and a subscription of HR client
    1."""
    bus = bus_settings(nats_server.url)
    url = database_factory
    apps = {
        M: curriculum_app(CurriculumSettings(database_url=url("curriculum"), **bus)),
        E: enrolment_app(EnrolmentSettings(database_url=url("enrolment"), **bus)),
        X: certification_app(
            CertificationSettings(
                database_url=url("certification"),
                render_workers=0,
                var_dir=tmp_path,
                # Eleven callers verify one code in a row: the per-address limit is not the
                # subject here.
                verify_burst=1_000,
                **bus,
            )
        ),
        W: webhooks_app(
            WebhooksSettings(
                database_url=url("webhooks"), allowed_private_networks="127.0.0.0/8", **bus
            )
        ),
    }
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(running_app(app)) for name, app in apps.items()
        }
        world = World(clients)
        world.headers = {
            "admin": auth("admin", sub="admin-1"),
            "rev": auth("reviewer", sub="reviewer-1"),
        }
        await set_up(world)
        yield world


async def set_up(world: World) -> None:
    ok = world.ok
    # National curriculum (a platform admin's), reviewed and published.
    await ok(M, "POST", "/v1/modules", "admin", 201, json={**MODULE, "code": "WPS-101"})
    await review(world, "modules", "WPS-101", author="admin", until="publish")
    await ok(M, "POST", "/v1/tracks", "admin", 201, json={**TRACK, "code": "GHR-FOUND"})
    await review(world, "tracks", "GHR-FOUND", author="admin", until="publish")
    rule = {**REQUIREMENT, "code": "REQ-ALL-FOUND", "selector": {}}
    await ok(M, "POST", "/v1/requirements", "admin", 201, json=rule)

    # Two academies with a trainee each; the callers of the table.
    ids = world.ids
    for key, code, name in (("A", "KZ-ALA", "Almaty Police Academy"), ("B", "KZ-AST", "Astana")):
        body = {"code": code, "name": name, "country": "KZ"}
        ids[key] = (await ok(E, "POST", "/v1/academies", "admin", 201, json=body))["id"]
        created = await ok(E, "POST", "/v1/trainees", "admin", 201, json=trainee(ids[key], code))
        ids[f"t{key}"] = created["id"]
    for key in ("A", "B"):
        academy = ids[key]
        world.headers[f"aa{key}"] = auth("academy_admin", academy_id=academy, sub=f"admin-{key}")
        world.headers[f"in{key}"] = auth("instructor", academy_id=academy, sub=f"teacher-{key}")
        world.headers[f"tr{key}"] = auth("trainee", academy_id=academy, sub=ids[f"t{key}"])
    world.headers["aaA2"] = auth("academy_admin", academy_id=ids["A"], sub="admin-A2")
    world.headers |= {
        "hr1": auth("hr", sub="hr-client-1"),
        "hr2": auth("hr", sub="hr-client-2"),
        "anon": {},
    }

    # A's draft module, an import of A, a subscription of HR client 1.
    a_module = {**MODULE, "code": "ALA-101"}
    ids["A_MODULE"] = (await ok(M, "POST", "/v1/modules", "aaA", 201, json=a_module))["code"]
    a_track = {**TRACK, "code": "ALA-FOUND"}
    ids["A_TRACK"] = (await ok(M, "POST", "/v1/tracks", "aaA", 201, json=a_track))["code"]
    job = await ok(
        E,
        "POST",
        f"/v1/academies/{ids['A']}/imports",
        "aaA",
        202,
        content=IMPORT.format(n=0),
        headers={"content-type": "text/csv"},
    )
    ids["J"] = job["id"]
    ids["S"] = (await ok(W, "POST", "/v1/webhooks", "hr1", 201, json=SUBSCRIPTION))["id"]

    # A cohort of A (once track.published has reached enrolment) with the trainee of A, who
    # passes and gets a certificate, as does another trainee of A (tA2); and one certified
    # trainee more for each revocation cell.
    cohort = {**NEW_COHORT, "academy_id": ids["A"], "capacity": 1000}

    async def cohort_opened() -> Any:
        response = await world.clients[E].post(
            "/v1/cohorts", json=cohort, headers=world.headers["admin"]
        )
        return response.json() if response.status_code == 201 else None

    ids["C"] = (await wait_until(cohort_opened, what="track.published to reach enrolment"))["id"]
    passing = {"module_code": "WPS-101", "attendance_pct": 100, "score": 90}
    certified = [ids["tA"]]
    for n in range(1 + len(CALLERS)):
        certified.append((await trainee_of_a(world, {"n": f"C{n}"}))["trainee"])
    enrolments = {}
    for trainee_id in certified:
        path = f"/v1/cohorts/{ids['C']}/enrolments"
        enrolment = await ok(E, "POST", path, "admin", 201, json={"trainee_id": trainee_id})
        enrolments[trainee_id] = enrolment["id"]
        path = f"/v1/enrolments/{enrolment['id']}/results"
        await ok(E, "POST", path, "admin", 201, json=passing)
    ids["tA2"] = certified[1]
    ids["E"], ids["E2"] = enrolments[ids["tA"]], enrolments[ids["tA2"]]

    async def all_certified() -> Any:
        page = await ok(X, "GET", "/v1/certificates?limit=500", "admin")
        return page["items"] if page["total"] == len(certified) else None

    certificates = await wait_until(all_certified, timeout=30, what="the certificates")
    for certificate in certificates:
        if certificate["trainee_id"] == ids["tA"]:
            ids["X"] = certificate["id"]
            ids["code"] = certificate["verification_code"]
        elif certificate["trainee_id"] == ids["tA2"]:
            ids["X2"] = certificate["id"]
        else:
            world.certificates.append(certificate["id"])

    async def rule_reached_enrolment() -> Any:
        return await ok(E, "GET", f"/v1/trainees/{ids['tA']}/compliance", "admin")

    await wait_until(rule_reached_enrolment, what="requirement.changed to reach enrolment")
    ids["R"] = (await recognition_of_a(world, {**ids, "n": "0"}))["recognition"]

    profile = {**PROFILE, "code": "PKO-MATRIX"}
    await ok(M, "POST", "/v1/clearance-profiles", "admin", 201, json=profile)

    async def profile_reached_enrolment() -> bool:
        response = await world.clients[E].get(
            "/v1/clearance?employee_number=KZ-ALA&profile=PKO-MATRIX",
            headers=world.headers["admin"],
        )
        return response.status_code == 200

    await wait_until(profile_reached_enrolment, what="clearance_profile.changed to reach enrolment")


# --- running the table -------------------------------------------------------------------------


async def outcome(world: World, row: Row, caller: str) -> tuple[Outcome, str]:
    """What the caller gets for the row (a fresh resource made first when the row needs one),
    and the problem's detail to show with a mismatch."""
    params: Params = {**world.ids, "n": f"{next(world.serial):04d}"}
    if row.fresh is not None:
        params |= await row.fresh(world, params)
    headers = dict(world.headers[caller])
    request: dict[str, Any] = {}
    if row.csv is not None:
        request["content"] = fill(row.csv, params)
        headers["content-type"] = "text/csv"
    elif row.form is not None:
        request["data"] = fill(row.form, params)
        request["files"] = {"evidence": ("e.pdf", PDF, "application/pdf")}
    elif row.body is not None:
        request["json"] = fill(row.body, params)
    client = world.clients[row.service]
    response = await client.request(row.method, fill(row.path, params), headers=headers, **request)
    status = response.status_code
    if status >= 400:
        problem = response.json() if "json" in response.headers.get("content-type", "") else {}
        if response.headers.get("content-type") != "application/problem+json":
            return f"{status} (not problem+json)", response.text[:200]
        return status, str(problem.get("detail", ""))[:200]
    if row.lists is not None and status == 200:
        key, wanted = row.lists
        listed = {str(item.get(key)) for item in response.json()["items"]}
        return (OK if fill(wanted, params) in listed else HIDDEN), ""
    return status, ""


async def test_every_caller_gets_what_the_rules_say_on_every_endpoint(world: World) -> None:
    mismatches = []
    for row in ROWS:
        for caller, expected in zip(CALLERS, row.expect, strict=True):
            got, detail = await outcome(world, row, caller)
            if got != expected:
                mismatches.append(
                    f"{row.service:13} {row.method:6} {row.path:48} {NAMES[caller]:20} "
                    f"expected {expected}, got {got}" + (f": {detail}" if detail else "")
                )
    if mismatches:
        cells = len(ROWS) * len(CALLERS)
        listing = "\n".join(mismatches)
        pytest.fail(f"{len(mismatches)} of {cells} cells differ:\n{listing}", pytrace=False)
