"""The compliance rules as pure functions, table by table: grace period, renewal and the
recertification window, exemptions, reminder windows (one announcement per opening), the day the
caller counts in, and which requirements apply to whom. No database, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from wps_enrolment.compliance_rules import (
    Change,
    Verdict,
    applies,
    change,
    recognised_until,
    selector_matches,
    valid_until,
    verdict,
)
from wps_enrolment.models import CertificateRecord, Recognition, Requirement, Trainee

TRACK = "GHR-FOUND"
ALMATY = ZoneInfo("Asia/Almaty")


def requirement(**changes: Any) -> Requirement:
    fields: dict[str, Any] = {
        "code": "REQ-GHR",
        "revision": 1,
        "active": True,
        "track_code": TRACK,
        "selector": {"academies": "all", "ranks": ["Lieutenant", "Captain"]},
        "grace_period_days": 90,
        "renewal_months": None,
        "reminder_days": [60, 30],
        "title": {"en": "Gender and human rights foundation"},
        "created_on": date(2026, 1, 1),
        "changed_at": datetime(2026, 1, 1, tzinfo=UTC),
        **changes,
    }
    return Requirement(**fields)


def trainee(**changes: Any) -> Trainee:
    fields: dict[str, Any] = {
        "id": "trainee-1",
        "academy_id": "academy-1",
        "employee_number": "E-1",
        "given_name": "Aigerim",
        "family_name": "Sadykova",
        "preferred_language": "kk",
        "rank": "Captain",
        "role": "Instructor",
        "unit": "Training",
        "agency": "Police",
        "start_date": date(2026, 2, 1),
        "active": True,
        "created_at": datetime(2026, 2, 1, 9, tzinfo=UTC),
        **changes,
    }
    return Trainee(**fields)


def certificate(
    number: str,
    issued_on: date,
    expires_on: date | None,
    status: str = "valid",
    status_on: date | None = None,
    track_code: str = TRACK,
) -> CertificateRecord:
    return CertificateRecord(
        certificate_id=f"cert-{number}",
        trainee_id="trainee-1",
        academy_id="academy-1",
        enrolment_id="enrolment-1",
        track_code=track_code,
        issued_on=issued_on,
        expires_on=expires_on,
        status=status,
        status_on=status_on,
    )


@dataclass(frozen=True)
class Case:
    """One row: the facts on a day, and the verdict the rules must give."""

    today: date
    expected: Verdict
    certificates: list[CertificateRecord] = field(default_factory=list)
    exempt: bool = False
    requirement: dict[str, Any] = field(default_factory=dict)
    trainee: dict[str, Any] = field(default_factory=dict)
    recognitions: list[Recognition] = field(default_factory=list)
    due_date: date | None = None


def judge(case: Case) -> Verdict:
    return verdict(
        requirement(**case.requirement),
        trainee(**case.trainee),
        case.certificates,
        case.exempt,
        case.today,
        case.recognitions,
        case.due_date,
    )


def due(on: date) -> Verdict:
    return Verdict("due", on, None)


def overdue(on: date) -> Verdict:
    return Verdict("overdue", on, None)


# Started 1 Feb 2026 with 90 days' grace: the deadline is 2 May 2026.
DEADLINE = date(2026, 5, 2)

GRACE = {
    "before_the_start_date": Case(date(2026, 1, 15), due(DEADLINE)),
    "first_day": Case(date(2026, 2, 1), due(DEADLINE)),
    "inside_grace": Case(date(2026, 4, 1), due(DEADLINE)),
    "on_the_deadline": Case(DEADLINE, due(DEADLINE)),
    "day_after_the_deadline": Case(date(2026, 5, 3), overdue(DEADLINE)),
    "long_after_the_deadline": Case(date(2027, 5, 3), overdue(DEADLINE)),
    "in_post_before_the_rule_runs_from_the_rule": Case(
        date(2026, 4, 1), due(date(2026, 4, 1)), trainee={"start_date": date(2020, 6, 1)}
    ),
    "in_post_before_the_rule_day_after": Case(
        date(2026, 4, 2), overdue(date(2026, 4, 1)), trainee={"start_date": date(2020, 6, 1)}
    ),
    "no_start_date_runs_from_creation": Case(
        date(2026, 6, 1),
        overdue(date(2026, 5, 11)),
        trainee={"start_date": None, "created_at": datetime(2026, 2, 10, 8, tzinfo=UTC)},
    ),
    "zero_grace_due_on_the_start_date": Case(
        date(2026, 2, 1), due(date(2026, 2, 1)), requirement={"grace_period_days": 0}
    ),
    "zero_grace_overdue_the_day_after": Case(
        date(2026, 2, 2), overdue(date(2026, 2, 1)), requirement={"grace_period_days": 0}
    ),
    "revoked_certificate_does_not_count": Case(
        date(2026, 5, 3),
        overdue(DEADLINE),
        certificates=[certificate("1", date(2026, 3, 1), None, "revoked", date(2026, 3, 5))],
    ),
    "another_tracks_certificate_does_not_count": Case(
        date(2026, 4, 1),
        due(DEADLINE),
        certificates=[certificate("1", date(2026, 3, 1), None, track_code="OTHER")],
    ),
}


@pytest.mark.parametrize("case", GRACE.values(), ids=GRACE.keys())
def test_grace_period(case: Case) -> None:
    assert judge(case) == case.expected


# Issued 1 Mar 2026, expiring 1 Mar 2029; a 24-month renewal ends its use on 1 Mar 2028 (a leap
# year: 60 days before is 1 Jan 2028).
ISSUED, EXPIRES, RENEW_BY = date(2026, 3, 1), date(2029, 3, 1), date(2028, 3, 1)
FIRST = certificate("1", ISSUED, EXPIRES)
RENEWING = {"renewal_months": 24}

RENEWAL = {
    "certified_no_renewal_counts_until_expiry": Case(
        date(2028, 12, 1), Verdict("compliant", EXPIRES, "cert-1"), [FIRST]
    ),
    "renewal_period_ends_before_expiry": Case(
        date(2027, 12, 31), Verdict("compliant", RENEW_BY, "cert-1"), [FIRST], requirement=RENEWING
    ),
    "renewal_window_opens_60_days_before": Case(
        date(2028, 1, 1), Verdict("due", RENEW_BY, "cert-1"), [FIRST], requirement=RENEWING
    ),
    "renewal_window_last_day": Case(
        date(2028, 2, 29), Verdict("due", RENEW_BY, "cert-1"), [FIRST], requirement=RENEWING
    ),
    "not_renewed_lapses_on_the_renewal_date": Case(
        RENEW_BY, Verdict("expired", RENEW_BY, None), [FIRST], requirement=RENEWING
    ),
    "renewal_longer_than_validity_is_capped_by_expiry": Case(
        EXPIRES,
        Verdict("expired", EXPIRES, None),
        [FIRST],
        requirement={"renewal_months": 48},
    ),
    "renewed_before_expiry_the_new_certificate_counts": Case(
        date(2028, 2, 1),
        Verdict("compliant", date(2030, 1, 15), "cert-2"),
        [FIRST, certificate("2", date(2028, 1, 15), date(2031, 1, 15))],
        requirement=RENEWING,
    ),
    "renewed_after_expiry_compliant_again": Case(
        date(2028, 3, 10),
        Verdict("compliant", date(2030, 3, 10), "cert-2"),
        [FIRST, certificate("2", date(2028, 3, 10), date(2031, 3, 10))],
        requirement=RENEWING,
    ),
    "expired_by_certification_lapses_at_its_end": Case(
        date(2029, 4, 1),
        Verdict("expired", EXPIRES, None),
        [certificate("1", ISSUED, EXPIRES, "expired", EXPIRES)],
    ),
    "expired_without_an_end_date_lapses_on_the_status_day": Case(
        date(2027, 4, 1),
        Verdict("expired", date(2027, 3, 1), None),
        [certificate("1", ISSUED, None, "expired", date(2027, 3, 1))],
    ),
    "two_lapsed_the_later_end_counts": Case(
        date(2030, 1, 1),
        Verdict("expired", date(2029, 9, 1), None),
        [
            certificate("1", ISSUED, EXPIRES, "expired", EXPIRES),
            certificate("2", date(2026, 9, 1), date(2029, 9, 1), "expired", date(2029, 9, 1)),
        ],
    ),
    "no_expiry_and_no_renewal_is_compliant_for_good": Case(
        date(2060, 1, 1), Verdict("compliant", None, "cert-1"), [certificate("1", ISSUED, None)]
    ),
    "revoked_renewal_leaves_the_older_certificate": Case(
        date(2027, 6, 1),
        Verdict("compliant", RENEW_BY, "cert-1"),
        [FIRST, certificate("2", date(2027, 5, 1), None, "revoked", date(2027, 5, 20))],
        requirement=RENEWING,
    ),
}


@pytest.mark.parametrize("case", RENEWAL.values(), ids=RENEWAL.keys())
def test_renewal_and_recertification_window(case: Case) -> None:
    assert judge(case) == case.expected


@pytest.mark.parametrize(
    ("issued_on", "expires_on", "renewal_months", "until"),
    [
        pytest.param(ISSUED, EXPIRES, None, EXPIRES, id="expiry_alone"),
        pytest.param(ISSUED, EXPIRES, 24, RENEW_BY, id="renewal_first"),
        pytest.param(ISSUED, date(2027, 1, 1), 24, date(2027, 1, 1), id="expiry_first"),
        pytest.param(ISSUED, None, 24, RENEW_BY, id="renewal_alone"),
        pytest.param(ISSUED, None, None, None, id="neither"),
        pytest.param(date(2026, 1, 31), None, 1, date(2026, 2, 28), id="month_end"),
        pytest.param(date(2028, 2, 29), None, 12, date(2029, 2, 28), id="leap_day"),
    ],
)
def test_valid_until(
    issued_on: date, expires_on: date | None, renewal_months: int | None, until: date | None
) -> None:
    held = certificate("1", issued_on, expires_on)
    assert valid_until(requirement(renewal_months=renewal_months), held) == until


REFRESHER = "GHR-REFRESH"
WITH_REFRESHER = {"renewal_months": 24, "refresher_track_code": REFRESHER}


def refresher(number: str, issued_on: date, status: str = "valid") -> CertificateRecord:
    return certificate(number, issued_on, add_years(issued_on, 2), status, track_code=REFRESHER)


def add_years(day: date, years: int) -> date:
    return day.replace(year=day.year + years)


def recognition(
    number: str,
    completed_on: date,
    valid_until: date | None = None,
    status: str = "approved",
    track_code: str = TRACK,
) -> Recognition:
    return Recognition(
        id=f"recognition-{number}",
        academy_id="academy-1",
        trainee_id="trainee-1",
        track_code=track_code,
        issuer="OSCE Academy",
        completed_on=completed_on,
        valid_until=valid_until,
        status=status,
    )


def recognised(status: str, on: date | None, number: str = "1") -> Verdict:
    return Verdict(status, on, None, f"recognition-{number}")


# FIRST (the foundation, 1 Mar 2026) is renewed until 1 Mar 2028; a refresher on 15 Jan 2028
# renews the requirement to 15 Jan 2030.
REFRESHED = date(2028, 1, 15)

RECERTIFICATION = {
    "a_refresher_after_the_foundation_renews_it": Case(
        date(2028, 2, 1),
        Verdict("compliant", date(2030, 1, 15), "cert-r1"),
        [FIRST, refresher("r1", REFRESHED)],
        requirement=WITH_REFRESHER,
    ),
    "a_refresher_after_the_foundation_lapsed_renews_it": Case(
        date(2028, 6, 1),
        Verdict("compliant", date(2030, 5, 1), "cert-r1"),
        [certificate("1", ISSUED, EXPIRES, "expired", RENEW_BY), refresher("r1", date(2028, 5, 1))],
        requirement=WITH_REFRESHER,
    ),
    "a_refresher_alone_renews_nothing": Case(
        date(2028, 2, 1),
        overdue(DEADLINE),
        [refresher("r1", REFRESHED)],
        requirement=WITH_REFRESHER,
    ),
    "a_refresher_before_the_foundation_does_not_count": Case(
        date(2028, 4, 1),
        Verdict("expired", RENEW_BY, None),
        [FIRST, refresher("r0", date(2026, 1, 10))],
        requirement=WITH_REFRESHER,
    ),
    "a_refresher_on_a_revoked_foundation_renews_nothing": Case(
        date(2028, 2, 1),
        overdue(DEADLINE),
        [
            certificate("1", ISSUED, EXPIRES, "revoked", date(2026, 6, 1)),
            refresher("r1", REFRESHED),
        ],
        requirement=WITH_REFRESHER,
    ),
    "refreshers_chain_from_the_first_completion": Case(
        date(2030, 2, 1),
        Verdict("compliant", date(2031, 12, 1), "cert-r2"),
        [FIRST, refresher("r1", REFRESHED), refresher("r2", date(2029, 12, 1))],
        requirement=WITH_REFRESHER,
    ),
    "a_lapsed_refresher_is_expired_not_overdue": Case(
        date(2030, 2, 1),
        Verdict("expired", date(2030, 1, 15), None),
        [FIRST, refresher("r1", REFRESHED)],
        requirement=WITH_REFRESHER,
    ),
    "the_refresher_is_ignored_when_the_requirement_names_none": Case(
        date(2028, 4, 1),
        Verdict("expired", RENEW_BY, None),
        [FIRST, refresher("r1", REFRESHED)],
        requirement=RENEWING,
    ),
    "a_refresher_after_recognised_training_renews_it": Case(
        date(2028, 2, 1),
        Verdict("compliant", date(2030, 1, 15), "cert-r1"),
        [refresher("r1", REFRESHED)],
        requirement=WITH_REFRESHER,
        recognitions=[recognition("1", ISSUED)],
    ),
}


@pytest.mark.parametrize("case", RECERTIFICATION.values(), ids=RECERTIFICATION.keys())
def test_recertification_by_refresher(case: Case) -> None:
    assert judge(case) == case.expected


RECOGNITION = {
    "approved_counts_for_the_renewal_period": Case(
        date(2026, 6, 1),
        recognised("compliant", RENEW_BY),
        requirement=RENEWING,
        recognitions=[recognition("1", ISSUED)],
    ),
    "its_own_valid_until_wins": Case(
        date(2026, 6, 1),
        recognised("compliant", date(2027, 3, 1)),
        requirement=RENEWING,
        recognitions=[recognition("1", ISSUED, valid_until=date(2027, 3, 1))],
    ),
    "pending_does_not_count": Case(
        date(2026, 6, 1),
        overdue(DEADLINE),
        requirement=RENEWING,
        recognitions=[recognition("1", ISSUED, status="pending")],
    ),
    "rejected_does_not_count": Case(
        date(2026, 6, 1),
        overdue(DEADLINE),
        requirement=RENEWING,
        recognitions=[recognition("1", ISSUED, status="rejected")],
    ),
    "another_track_does_not_count": Case(
        date(2026, 6, 1),
        overdue(DEADLINE),
        requirement=RENEWING,
        recognitions=[recognition("1", ISSUED, track_code="GHR-SGBV")],
    ),
    "lapsed_recognition_is_expired_and_still_recognised": Case(
        date(2028, 6, 1),
        recognised("expired", RENEW_BY),
        requirement=RENEWING,
        recognitions=[recognition("1", ISSUED)],
    ),
    "a_later_certificate_takes_over": Case(
        date(2027, 6, 1),
        Verdict("compliant", date(2029, 5, 1), "cert-2"),
        [certificate("2", date(2027, 5, 1), None)],
        requirement=RENEWING,
        recognitions=[recognition("1", ISSUED)],
    ),
    "inside_the_window_it_is_due": Case(
        date(2028, 1, 15),
        recognised("due", RENEW_BY),
        requirement=RENEWING,
        recognitions=[recognition("1", ISSUED)],
    ),
}


@pytest.mark.parametrize("case", RECOGNITION.values(), ids=RECOGNITION.keys())
def test_recognised_training(case: Case) -> None:
    found = judge(case)
    assert found == case.expected
    assert found.basis == (
        "recognised" if found.recognition_id else "certificate" if found.certificate_id else None
    )


def test_recognised_until_without_renewal_or_end_has_none() -> None:
    assert recognised_until(requirement(), recognition("1", ISSUED)) is None
    assert recognised(status="compliant", on=None).basis == "recognised"
    assert Verdict("compliant", None, "cert-1").basis == "certificate"


EXEMPT = Verdict("exempt", None, None)

EXEMPTION = {
    "active_exemption_while_overdue": Case(date(2026, 6, 1), EXEMPT, exempt=True),
    "active_exemption_over_a_lapsed_certificate": Case(
        date(2029, 4, 1), EXEMPT, [FIRST], exempt=True
    ),
    "active_exemption_over_a_valid_certificate": Case(
        date(2026, 6, 1), EXEMPT, [FIRST], exempt=True
    ),
    # An exemption has no end date: it holds until an admin lifts it.
    "exemption_does_not_lapse_with_time": Case(date(2040, 1, 1), EXEMPT, exempt=True),
    "lifted_exemption_back_to_overdue": Case(date(2026, 6, 1), overdue(DEADLINE)),
    "lifted_exemption_back_to_compliant": Case(
        date(2026, 6, 1), Verdict("compliant", EXPIRES, "cert-1"), [FIRST]
    ),
}


@pytest.mark.parametrize("case", EXEMPTION.values(), ids=EXEMPTION.keys())
def test_exemption(case: Case) -> None:
    assert judge(case) == case.expected


# Personal due dates: an academy admin gives one trainee until a day of their own.
BACK_FROM_LEAVE = date(2026, 11, 30)
LAPSED = certificate("1", ISSUED, EXPIRES, "expired", EXPIRES)

PERSONAL_DUE_DATE = {
    "replaces_the_grace_deadline_inside_it": Case(
        date(2026, 4, 1), due(BACK_FROM_LEAVE), due_date=BACK_FROM_LEAVE
    ),
    "overdue_by_the_grace_period_is_due_again": Case(
        date(2026, 6, 1), due(BACK_FROM_LEAVE), due_date=BACK_FROM_LEAVE
    ),
    "on_the_personal_day_still_due": Case(
        BACK_FROM_LEAVE, due(BACK_FROM_LEAVE), due_date=BACK_FROM_LEAVE
    ),
    "day_after_the_personal_day_overdue": Case(
        date(2026, 12, 1), overdue(BACK_FROM_LEAVE), due_date=BACK_FROM_LEAVE
    ),
    # It replaces the grace deadline, earlier or later: a shorter one is the admin's call too.
    "earlier_than_the_grace_deadline_counts": Case(
        date(2026, 4, 2), overdue(date(2026, 4, 1)), due_date=date(2026, 4, 1)
    ),
    "lapsed_certificate_due_until_the_day": Case(
        date(2029, 4, 1), due(date(2029, 9, 1)), [LAPSED], due_date=date(2029, 9, 1)
    ),
    "lapsed_certificate_due_on_the_day": Case(
        date(2029, 9, 1), due(date(2029, 9, 1)), [LAPSED], due_date=date(2029, 9, 1)
    ),
    "lapsed_certificate_expired_again_after_the_day": Case(
        date(2029, 9, 2), Verdict("expired", EXPIRES, None), [LAPSED], due_date=date(2029, 9, 1)
    ),
    "renewal_period_ended_due_until_the_day": Case(
        date(2028, 4, 1),
        due(date(2028, 6, 1)),
        [FIRST],
        requirement=RENEWING,
        due_date=date(2028, 6, 1),
    ),
    "lapsed_recognition_due_until_the_day": Case(
        date(2029, 4, 1),
        due(date(2029, 9, 1)),
        recognitions=[recognition("1", ISSUED, valid_until=EXPIRES)],
        due_date=date(2029, 9, 1),
    ),
    # A current certificate rules: the personal day matters once it lapses.
    "valid_certificate_stays_compliant": Case(
        date(2026, 6, 1), Verdict("compliant", EXPIRES, "cert-1"), [FIRST], due_date=BACK_FROM_LEAVE
    ),
    "renewal_window_keeps_the_certificates_date": Case(
        date(2028, 1, 1),
        Verdict("due", RENEW_BY, "cert-1"),
        [FIRST],
        requirement=RENEWING,
        due_date=date(2028, 6, 1),
    ),
    "an_exemption_outranks_it": Case(
        date(2026, 6, 1), EXEMPT, exempt=True, due_date=BACK_FROM_LEAVE
    ),
    "a_revoked_certificate_is_never_certified": Case(
        date(2026, 6, 1),
        due(BACK_FROM_LEAVE),
        [certificate("1", date(2026, 3, 1), None, "revoked", date(2026, 3, 5))],
        due_date=BACK_FROM_LEAVE,
    ),
}


@pytest.mark.parametrize("case", PERSONAL_DUE_DATE.values(), ids=PERSONAL_DUE_DATE.keys())
def test_personal_due_date(case: Case) -> None:
    assert judge(case) == case.expected


def test_an_exemption_from_one_requirement_leaves_the_others() -> None:
    # Exemptions are per requirement: the caller passes whether this pair is exempt.
    exemptions = {("trainee-1", "REQ-GHR")}
    person = trainee()
    found = {
        code: verdict(
            requirement(code=code), person, [], ("trainee-1", code) in exemptions, date(2026, 6, 1)
        )
        for code in ("REQ-GHR", "REQ-WPS")
    }
    assert found == {"REQ-GHR": EXEMPT, "REQ-WPS": overdue(DEADLINE)}


# Reminder windows [60, 30] before 1 Mar 2028: only the widest opens the "due" status.
WINDOWS = {
    "61_days_before": (date(2027, 12, 31), [60, 30], "compliant"),
    "60_days_before": (date(2028, 1, 1), [60, 30], "due"),
    "31_days_before": (date(2028, 1, 30), [60, 30], "due"),
    "30_days_before": (date(2028, 1, 31), [60, 30], "due"),
    "1_day_before": (date(2028, 2, 29), [60, 30], "due"),
    "on_the_day": (RENEW_BY, [60, 30], "expired"),
    "order_of_leads_does_not_matter": (date(2028, 1, 1), [30, 60], "due"),
    "single_lead_outside": (date(2028, 1, 30), [30], "compliant"),
    "single_lead_boundary": (date(2028, 1, 31), [30], "due"),
    "no_leads_never_due_before_the_end": (date(2028, 2, 29), [], "compliant"),
}


@pytest.mark.parametrize(("today", "leads", "status"), WINDOWS.values(), ids=WINDOWS.keys())
def test_reminder_window_boundaries(today: date, leads: list[int], status: str) -> None:
    rule = requirement(renewal_months=24, reminder_days=leads)
    assert verdict(rule, trainee(), [FIRST], False, today).status == status


COMPLIANT = Verdict("compliant", RENEW_BY, "cert-1")
IN_WINDOW = Verdict("due", RENEW_BY, "cert-1")

CHANGES = {
    "first_verdict_is_written_and_announced": (None, IN_WINDOW, Change(True, True)),
    "window_opens_announced_once": (COMPLIANT, IN_WINDOW, Change(True, True)),
    "next_day_in_the_window_nothing": (IN_WINDOW, IN_WINDOW, Change(False, False)),
    "second_lead_same_status_nothing": (IN_WINDOW, IN_WINDOW, Change(False, False)),
    "new_due_date_same_status_written_quietly": (
        COMPLIANT,
        Verdict("compliant", date(2030, 1, 15), "cert-1"),
        Change(True, False),
    ),
    "renewed_in_the_window_announced": (
        IN_WINDOW,
        Verdict("compliant", date(2030, 1, 15), "cert-2"),
        Change(True, True),
    ),
    "new_certificate_same_status_written_quietly": (
        COMPLIANT,
        Verdict("compliant", RENEW_BY, "cert-2"),
        Change(True, False),
    ),
    "lapse_announced": (IN_WINDOW, Verdict("expired", RENEW_BY, None), Change(True, True)),
    "grace_to_overdue_announced": (due(DEADLINE), overdue(DEADLINE), Change(True, True)),
    "exemption_lifted_announced": (EXEMPT, overdue(DEADLINE), Change(True, True)),
}


@pytest.mark.parametrize(("stored", "found", "expected"), CHANGES.values(), ids=CHANGES.keys())
def test_what_a_new_verdict_changes(
    stored: Verdict | None, found: Verdict, expected: Change
) -> None:
    assert change(stored, found) == expected


def test_a_reminder_window_is_announced_once_over_the_days_it_is_open() -> None:
    rule = requirement(renewal_months=24)
    stored: Verdict | None = None
    announced: list[tuple[date, str]] = []
    day = date(2027, 12, 25)
    while day <= date(2028, 3, 3):
        found = verdict(rule, trainee(), [FIRST], False, day)
        if change(stored, found).announce:
            announced.append((day, found.status))
        stored = found
        day = date.fromordinal(day.toordinal() + 1)
    assert announced == [
        (date(2027, 12, 25), "compliant"),
        (date(2028, 1, 1), "due"),
        (RENEW_BY, "expired"),
    ]


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


# 20:00 UTC on the deadline is already 01:00 the next day in Almaty (UTC+5).
EVENING = datetime(2026, 5, 2, 20, tzinfo=UTC)

TIME_ZONES = {
    "deadline_evening_utc_still_due": (local_day(EVENING, UTC), "due"),
    "deadline_evening_almaty_already_overdue": (local_day(EVENING, ALMATY), "overdue"),
    "almaty_morning_before_utc_midnight_still_due": (
        local_day(datetime(2026, 5, 2, 18, 59, tzinfo=UTC), ALMATY),
        "due",
    ),
    "almaty_midnight_overdue": (local_day(datetime(2026, 5, 2, 19, tzinfo=UTC), ALMATY), "overdue"),
}


@pytest.mark.parametrize(("today", "status"), TIME_ZONES.values(), ids=TIME_ZONES.keys())
def test_the_day_is_the_one_the_caller_counts_in(today: date, status: str) -> None:
    # The rules take a calendar day, not an instant: which day it is in which zone is the
    # caller's choice, so the same instant can be the deadline in one zone and past it in another.
    assert judge(Case(today, overdue(DEADLINE))).status == status


@pytest.mark.parametrize(
    ("created_at", "deadline"),
    [
        pytest.param(datetime(2026, 1, 31, 21, tzinfo=UTC), date(2026, 5, 1), id="utc_evening"),
        pytest.param(
            datetime(2026, 2, 1, 2, tzinfo=ALMATY), date(2026, 5, 1), id="almaty_small_hours"
        ),
        pytest.param(datetime(2026, 2, 1, 0, tzinfo=UTC), DEADLINE, id="utc_midnight"),
    ],
)
def test_without_a_start_date_the_grace_runs_from_the_utc_day_of_creation(
    created_at: datetime, deadline: date
) -> None:
    # created_at is stored in UTC and its UTC date is taken: a trainee created at 02:00 on
    # 1 Feb in Almaty was created on 31 Jan.
    case = Case(
        date(2026, 3, 1),
        due(deadline),
        trainee={"start_date": None, "created_at": created_at.astimezone(UTC)},
    )
    assert judge(case) == case.expected


SELECTORS = {
    "all_matches": ({}, {}, "ACAD-1", True),
    "rank_listed": ({"ranks": ["Captain"]}, {}, "ACAD-1", True),
    "rank_case_insensitive": ({"ranks": ["captain"]}, {}, "ACAD-1", True),
    "rank_not_listed": ({"ranks": ["Major"]}, {}, "ACAD-1", False),
    "no_rank_against_a_list": ({"ranks": ["Captain"]}, {"rank": None}, "ACAD-1", False),
    "academy_by_code": ({"academies": ["acad-1"]}, {}, "ACAD-1", True),
    "academy_by_id": ({"academies": ["academy-1"]}, {}, "ACAD-1", True),
    "other_academy": ({"academies": ["ACAD-2"]}, {}, "ACAD-1", False),
    "agency_role_unit_all_listed": (
        {"agencies": ["Police"], "roles": ["Instructor"], "units": ["Training"]},
        {},
        "ACAD-1",
        True,
    ),
    "unit_not_listed": ({"units": ["Border"]}, {}, "ACAD-1", False),
}


@pytest.mark.parametrize(
    ("selector", "person", "academy_code", "matches"), SELECTORS.values(), ids=SELECTORS.keys()
)
def test_selector(
    selector: dict[str, Any], person: dict[str, Any], academy_code: str, matches: bool
) -> None:
    assert selector_matches(selector, trainee(**person), academy_code) is matches


@pytest.mark.parametrize(
    ("rule", "person", "expected"),
    [
        pytest.param({}, {}, True, id="active_rule_active_trainee"),
        pytest.param({"active": False}, {}, False, id="deleted_rule"),
        pytest.param({}, {"active": False}, False, id="deactivated_trainee"),
        pytest.param({"selector": {"ranks": ["Major"]}}, {}, False, id="selector_misses"),
    ],
)
def test_applies(rule: dict[str, Any], person: dict[str, Any], expected: bool) -> None:
    assert applies(requirement(**rule), trainee(**person), "ACAD-1") is expected
