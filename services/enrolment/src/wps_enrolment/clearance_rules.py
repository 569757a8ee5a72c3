"""The deployment clearance rule as one pure function: which items of a clearance profile a
person's holdings meet until a given day (a mission's end date). No session, no clock: the
caller reads the holdings and the modules of the tracks they attest.

A holding is anything that counts like a certificate: a platform certificate today; training
done elsewhere and recognised plugs in as a `Holding` with `source="recognition"` (see
`clearance.holdings`), with no change here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

ItemKind = Literal["module", "track"]
ItemStatus = Literal["met", "expires", "missing"]


@dataclass(frozen=True)
class Holding:
    """A certificate (or recognised training) as the rule weighs it. `award` says what it
    attests: a whole track (`code` is the track, `version` the track version when known) or a
    module's own certificate (`code` is the module). `until` is the last day it is valid
    (None: no expiry); `valid` is false once revoked or expired; `issued_on` is the day it was
    issued (or the recognised training completed), for the answer only."""

    source: Literal["certificate", "recognition"]
    id: str
    award: ItemKind
    code: str
    version: int | None
    valid: bool
    until: date | None
    issued_on: date | None = None


@dataclass(frozen=True)
class Item:
    kind: ItemKind
    code: str


@dataclass(frozen=True)
class ItemAnswer:
    """One item: `met` by `holding` until the day asked for; `expires` — the best holding ends
    (`until`) before that day; `missing` — nothing valid covers it."""

    item: Item
    status: ItemStatus
    holding: Holding | None

    @property
    def until(self) -> date | None:
        return self.holding.until if self.holding else None


TrackModules = Mapping[str, Mapping[int, frozenset[str]]]
"""Per track code, per published version: the codes of its modules."""


def modules_of(holding: Holding, tracks: TrackModules) -> frozenset[str]:
    """The modules a track certificate attests: those of its version, or of any version the
    read model knows when the version is not (certificates recorded before it was kept)."""
    versions = tracks.get(holding.code, {})
    if holding.version is not None and holding.version in versions:
        return versions[holding.version]
    return frozenset().union(*versions.values())


def covers(holding: Holding, item: Item, tracks: TrackModules) -> bool:
    """A track item: a certificate of that track. A module item: the module's own certificate,
    or a certificate of any track that contains the module."""
    if item.kind == "track":
        return holding.award == "track" and holding.code == item.code
    if holding.award == "module":
        return holding.code == item.code
    return item.code in modules_of(holding, tracks)


def _lasting(holding: Holding) -> date:
    return holding.until or date.max


def answer_item(
    item: Item, holdings: Iterable[Holding], tracks: TrackModules, until: date
) -> ItemAnswer:
    candidates = [h for h in holdings if h.valid and covers(h, item, tracks)]
    if not candidates:
        return ItemAnswer(item, "missing", None)
    # The longest-lasting holding speaks for the item (a certificate before recognised
    # training that lasts as long).
    best = max(candidates, key=lambda h: (_lasting(h), h.source == "certificate"))
    return ItemAnswer(item, "met" if _lasting(best) >= until else "expires", best)


def clearance(
    items: Sequence[Item], holdings: Sequence[Holding], tracks: TrackModules, until: date
) -> tuple[bool, list[ItemAnswer]]:
    """Whether every item is met until `until` (the mission's end date), and each item's
    answer in the profile's order."""
    answers = [answer_item(item, holdings, tracks, until) for item in items]
    return all(a.status == "met" for a in answers), answers
