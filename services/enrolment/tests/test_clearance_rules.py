"""The deployment clearance rule, pure: which holdings meet which items until a day."""

from __future__ import annotations

from datetime import date

import pytest

from wps_enrolment.clearance_rules import Holding, Item, clearance

TRACKS = {
    "GHR-FOUND": {1: frozenset({"WPS-101", "HR-102"}), 2: frozenset({"WPS-101", "SEAH-101"})},
}
MISSION_END = date(2027, 6, 30)


def held(
    code: str = "GHR-FOUND",
    *,
    award: str = "track",
    version: int | None = 1,
    until: date | None = date(2028, 1, 1),
    valid: bool = True,
    source: str = "certificate",
    id_: str = "c-1",
) -> Holding:
    return Holding(source, id_, award, code, version, valid, until)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "holdings", "status", "by"),
    [
        # A module is met by a track certificate whose version contains it ...
        (Item("module", "WPS-101"), [held()], "met", "c-1"),
        (Item("module", "HR-102"), [held()], "met", "c-1"),
        # ... not by one whose version does not,
        (Item("module", "SEAH-101"), [held()], "missing", None),
        (Item("module", "SEAH-101"), [held(version=2)], "met", "c-1"),
        # ... by any version the read model knows when the certificate's is unknown,
        (Item("module", "SEAH-101"), [held(version=None)], "met", "c-1"),
        # ... and by the module's own certificate.
        (Item("module", "CRSV-301"), [held("CRSV-301", award="module")], "met", "c-1"),
        (Item("track", "CRSV-301"), [held("CRSV-301", award="module")], "missing", None),
        # A track item: a certificate of that track only.
        (Item("track", "GHR-FOUND"), [held()], "met", "c-1"),
        (Item("track", "GHR-SGBV"), [held()], "missing", None),
        # Valid until the day asked for counts, the day before does not; no expiry always does.
        (Item("track", "GHR-FOUND"), [held(until=MISSION_END)], "met", "c-1"),
        (Item("track", "GHR-FOUND"), [held(until=date(2027, 6, 29))], "expires", "c-1"),
        (Item("track", "GHR-FOUND"), [held(until=None)], "met", "c-1"),
        # Revoked or expired certificates do not count.
        (Item("track", "GHR-FOUND"), [held(valid=False)], "missing", None),
        # The longest-lasting holding speaks for the item.
        (
            Item("module", "WPS-101"),
            [held(until=date(2027, 1, 1), id_="old"), held(until=date(2029, 1, 1), id_="new")],
            "met",
            "new",
        ),
        # Recognised training counts like a certificate; a certificate lasting as long wins.
        (
            Item("track", "GHR-FOUND"),
            [held(source="recognition", id_="r-1"), held(id_="c-2")],
            "met",
            "c-2",
        ),
    ],
)
def test_an_item_is_met_expires_or_is_missing(
    item: Item, holdings: list[Holding], status: str, by: str | None
) -> None:
    cleared, [found] = clearance([item], holdings, TRACKS, MISSION_END)
    assert (found.status, found.holding.id if found.holding else None) == (status, by)
    assert cleared is (status == "met")


def test_cleared_only_when_every_item_is_met() -> None:
    items = [Item("module", "WPS-101"), Item("module", "CRSV-301")]
    cleared, answers = clearance(items, [held()], TRACKS, MISSION_END)
    assert not cleared and [a.status for a in answers] == ["met", "missing"]
    crsv = held("CRSV-301", award="module", until=date(2027, 3, 1), id_="c-9")
    cleared, answers = clearance(items, [held(), crsv], TRACKS, MISSION_END)
    assert not cleared and [(a.status, a.until) for a in answers] == [
        ("met", date(2028, 1, 1)),
        ("expires", date(2027, 3, 1)),
    ]
    cleared, _ = clearance(items, [held(), crsv], TRACKS, date(2027, 3, 1))
    assert cleared
