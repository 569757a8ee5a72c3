"""Integrity checks for the starter catalogue (``catalogue/starter.yaml``).

The file is data, edited by curriculum staff rather than programmers, so every rule the loader
relies on is checked here with a message that names the offending entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

CATALOGUE_PATH = Path(__file__).parents[1] / "src/wps_curriculum/catalogue/starter.yaml"

REQUIRED_LOCALES = ("en", "ru")
MODULE_CODE_RE = re.compile(r"^[A-Z]{2,6}-\d{3}$")
TRACK_CODE_RE = re.compile(r"^[A-Z]{2,6}-[A-Z]{2,8}$")
REQUIREMENT_CODE_RE = re.compile(r"^REQ(-[A-Z]{2,8})+$")
SLUG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
CYRILLIC_RE = re.compile(r"[\u0400-\u04FF]")
LATIN_RE = re.compile(r"[A-Za-z]")

DELIVERY_MODES = {"classroom", "e-learning", "blended", "field-exercise"}
ASSESSMENT_KINDS = {"none", "quiz", "practical"}
SELECTOR_KEYS = {"academies", "agencies", "roles", "ranks", "units"}

MODULE_KEYS = {
    "code",
    "title",
    "summary",
    "objectives",
    "tags",
    "delivery_mode",
    "duration_hours",
    "assessment",
    "min_attendance_pct",
    "prerequisites",
    "references",
    "grants_certificate",
}
TRACK_KEYS = {
    "code",
    "title",
    "certificate_title",
    "description",
    "modules",
    "validity_months",
    "target_roles",
}
REQUIREMENT_KEYS = {
    "code",
    "title",
    "selector",
    "track",
    "grace_period_days",
    "renewal_months",
    "reminder_days",
}
# Fields an entry may leave out.
OPTIONAL_KEYS = {"requirements": {"refresher"}}

MAX_CERTIFICATE_MODULES = 2
MIN_OBJECTIVES, MAX_OBJECTIVES = 3, 5
MIN_HOURS, MAX_HOURS = 2, 16
# Share of letters in a Russian text that must be Cyrillic: instrument names such as
# "ST/SGB/2003/13" may stay in Latin script, but a text copied over from English may not.
MIN_CYRILLIC_SHARE = 0.7


Catalogue = dict[str, Any]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    with CATALOGUE_PATH.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), f"{CATALOGUE_PATH} must hold a mapping at the top level"
    return data


@pytest.fixture(scope="module")
def modules(catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    return {m["code"]: m for m in catalogue["modules"]}


@pytest.fixture(scope="module")
def tracks(catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    return {t["code"]: t for t in catalogue["tracks"]}


# --- helpers -------------------------------------------------------------------------------------


def is_int(value: object) -> bool:
    """True for real integers; YAML booleans are ints in Python and must not pass."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return is_int(value) or isinstance(value, float)


def cyrillic_share(text: str) -> float:
    cyrillic = len(CYRILLIC_RE.findall(text))
    letters = cyrillic + len(LATIN_RE.findall(text))
    return cyrillic / letters if letters else 0.0


def localised_fields(catalogue: Catalogue) -> Iterator[tuple[str, Any]]:
    """Yield (location, value) for every localised text mapping in the catalogue."""
    for module in catalogue["modules"]:
        for field in ("title", "summary"):
            yield f"module {module['code']}.{field}", module[field]
    for track in catalogue["tracks"]:
        for field in ("title", "certificate_title", "description"):
            yield f"track {track['code']}.{field}", track[field]
    for req in catalogue["requirements"]:
        yield f"requirement {req['code']}.title", req["title"]


def text_problems(label: str, locale: str, text: object) -> list[str]:
    """Problems with one text in one locale; ``label`` names it in messages."""
    if not isinstance(text, str) or not text.strip():
        return [f"{label} is missing or empty"]
    problems = []
    if text != text.strip():
        problems.append(f"{label} has leading or trailing whitespace")
    if locale == "ru" and cyrillic_share(text) < MIN_CYRILLIC_SHARE:
        problems.append(f"{label} is not Russian text: {text[:60]!r}")
    if locale == "en" and CYRILLIC_RE.search(text):
        problems.append(f"{label} contains Cyrillic: {text[:60]!r}")
    return problems


def find_cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    """Depth-first search for a cycle; return it as a path (first node repeated) or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for nxt in graph.get(node, []):
            state = colour.get(nxt, black)  # unknown nodes cannot close a cycle
            if state == grey:
                return stack[stack.index(nxt) :] + [nxt]
            if state == white and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        colour[node] = black
        return None

    for start in graph:
        if colour[start] == white and (cycle := visit(start)) is not None:
            return cycle
    return None


def prerequisite_closure(modules: Mapping[str, Mapping[str, Any]], code: str) -> set[str]:
    """All modules that must be completed before ``code`` (transitively)."""
    seen: set[str] = set()
    pending = list(modules[code]["prerequisites"])
    while pending:
        prereq = pending.pop()
        if prereq not in seen:
            seen.add(prereq)
            # Unknown codes are reported by test_prerequisites_exist; do not follow them here.
            if prereq in modules:
                pending.extend(modules[prereq]["prerequisites"])
    return seen


# --- structure -----------------------------------------------------------------------------------


def test_top_level_keys(catalogue: Catalogue) -> None:
    assert set(catalogue) == {"modules", "tracks", "requirements", "clearance_profiles"}
    for key in ("modules", "tracks", "requirements"):
        assert isinstance(catalogue[key], list), f"'{key}' must be a list"


def test_minimum_counts(catalogue: Catalogue) -> None:
    assert len(catalogue["modules"]) >= 12
    assert len(catalogue["tracks"]) >= 3
    assert len(catalogue["requirements"]) >= 2


@pytest.mark.parametrize(
    ("section", "expected_keys"),
    [("modules", MODULE_KEYS), ("tracks", TRACK_KEYS), ("requirements", REQUIREMENT_KEYS)],
)
def test_entries_have_exactly_the_documented_fields(
    catalogue: Catalogue, section: str, expected_keys: set[str]
) -> None:
    for entry in catalogue[section]:
        assert isinstance(entry, dict), f"{section}: every entry must be a mapping"
        code = entry.get("code", "<no code>")
        optional = OPTIONAL_KEYS.get(section, set())
        missing = expected_keys - set(entry)
        unknown = set(entry) - expected_keys - optional
        assert not missing, f"{section} {code}: missing fields {sorted(missing)}"
        assert not unknown, f"{section} {code}: unknown fields {sorted(unknown)}"


@pytest.mark.parametrize(
    ("section", "pattern"),
    [
        ("modules", MODULE_CODE_RE),
        ("tracks", TRACK_CODE_RE),
        ("requirements", REQUIREMENT_CODE_RE),
    ],
)
def test_codes_are_unique_and_well_formed(
    catalogue: Catalogue, section: str, pattern: re.Pattern[str]
) -> None:
    codes = [entry["code"] for entry in catalogue[section]]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    assert not duplicates, f"duplicate {section} codes: {duplicates}"
    malformed = [c for c in codes if not isinstance(c, str) or not pattern.fullmatch(c)]
    assert not malformed, f"{section} codes not matching {pattern.pattern}: {malformed}"


def test_codes_are_unique_across_sections(catalogue: Catalogue) -> None:
    sections_by_code: dict[str, set[str]] = {}
    for section in ("modules", "tracks", "requirements"):
        for entry in catalogue[section]:
            sections_by_code.setdefault(entry["code"], set()).add(section)
    shared = {code: sorted(s) for code, s in sections_by_code.items() if len(s) > 1}
    assert not shared, f"codes used in more than one section: {shared}"


# --- localisation --------------------------------------------------------------------------------


def test_localised_texts_have_english_and_russian(catalogue: Catalogue) -> None:
    problems: list[str] = []
    for where, value in localised_fields(catalogue):
        if not isinstance(value, dict):
            problems.append(f"{where} must be a mapping of locale to text")
            continue
        for locale in REQUIRED_LOCALES:
            problems.extend(text_problems(f"{where}[{locale}]", locale, value.get(locale)))
    assert not problems, "\n".join(problems)


def test_russian_texts_contain_cyrillic(catalogue: Catalogue) -> None:
    # Stated separately from the share check above so that a failure reads plainly.
    for where, value in localised_fields(catalogue):
        assert CYRILLIC_RE.search(str(value.get("ru", ""))), f"{where}[ru] contains no Cyrillic"


# Letters Kazakh has and Russian has not: a Kazakh text is expected to hold at least one.
KAZAKH_LETTERS_RE = re.compile("[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")
RUSSIAN_ONLY_RE = re.compile("[щЩ]")  # Kazakh writes щ only in Russian loanwords


def titles(catalogue: Catalogue) -> Iterator[tuple[str, Any]]:
    """Every title a trainee or a certificate shows: modules', tracks' (and their certificate
    titles) and requirements'."""
    for module in catalogue["modules"]:
        yield f"module {module['code']}.title", module["title"]
    for track in catalogue["tracks"]:
        for field in ("title", "certificate_title"):
            yield f"track {track['code']}.{field}", track[field]
    for req in catalogue["requirements"]:
        yield f"requirement {req['code']}.title", req["title"]


def test_titles_are_in_kazakh_too(catalogue: Catalogue) -> None:
    # A Kazakh-speaking trainee's certificate is printed in Kazakh when the track has it.
    problems: list[str] = []
    for where, value in titles(catalogue):
        text = value.get("kk")
        label = f"{where}[kk]"
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{label} is missing or empty")
            continue
        if cyrillic_share(text) < MIN_CYRILLIC_SHARE:
            problems.append(f"{label} is not Kazakh text: {text[:60]!r}")
        elif not KAZAKH_LETTERS_RE.search(text) or RUSSIAN_ONLY_RE.search(text):
            problems.append(f"{label} reads as Russian, not Kazakh: {text[:60]!r}")
        if text == value.get("ru"):
            problems.append(f"{label} is the Russian text")
    assert not problems, "\n".join(problems)


def test_certificate_titles_name_the_programme_not_the_certificate(catalogue: Catalogue) -> None:
    # The certificate's heading already says "Certificate of completion" (Сертификат об
    # окончании обучения, Оқуды аяқтағаны туралы сертификат) and the title follows "has
    # completed the programme": a title that is itself "a certificate of ..." reads twice.
    # English names such programmes "Certificate in …", which reads as the programme's name.
    problems = [
        f"track {track['code']}.certificate_title[{locale}] names a certificate: {text[:60]!r}"
        for track in catalogue["tracks"]
        for locale, text in track["certificate_title"].items()
        if locale != "en" and re.search("сертификат", text, re.IGNORECASE)
    ]
    assert not problems, "\n".join(problems)


def test_objectives_are_parallel_lists(catalogue: Catalogue) -> None:
    problems: list[str] = []
    for module in catalogue["modules"]:
        code, objectives = module["code"], module["objectives"]
        if not isinstance(objectives, dict):
            problems.append(f"module {code}.objectives must be a mapping of locale to list")
            continue
        lengths = {}
        for locale in sorted(set(REQUIRED_LOCALES) | set(objectives)):
            items = objectives.get(locale)
            if not isinstance(items, list):
                problems.append(f"module {code}.objectives[{locale}] must be a list")
                continue
            lengths[locale] = len(items)
            if not MIN_OBJECTIVES <= len(items) <= MAX_OBJECTIVES:
                problems.append(
                    f"module {code}.objectives[{locale}] has {len(items)} items, "
                    f"expected {MIN_OBJECTIVES}-{MAX_OBJECTIVES}"
                )
            if len(set(items)) != len(items):
                problems.append(f"module {code}.objectives[{locale}] repeats an objective")
            for i, item in enumerate(items):
                label = f"module {code}.objectives[{locale}][{i}]"
                problems.extend(text_problems(label, locale, item))
        if len(set(lengths.values())) > 1:
            problems.append(f"module {code}: objectives differ in count per language {lengths}")
    assert not problems, "\n".join(problems)


# --- module fields -------------------------------------------------------------------------------


def test_module_enums(catalogue: Catalogue) -> None:
    for module in catalogue["modules"]:
        code = module["code"]
        assert module["delivery_mode"] in DELIVERY_MODES, (
            f"module {code}: delivery_mode {module['delivery_mode']!r} not in "
            f"{sorted(DELIVERY_MODES)}"
        )
        kind = module["assessment"].get("kind")
        assert kind in ASSESSMENT_KINDS, f"module {code}: assessment.kind {kind!r} is invalid"


def test_assessment_pass_marks(catalogue: Catalogue) -> None:
    for module in catalogue["modules"]:
        code, assessment = module["code"], module["assessment"]
        assert set(assessment) == {"kind", "pass_mark"}, f"module {code}: assessment fields"
        pass_mark = assessment["pass_mark"]
        assert is_int(pass_mark), f"module {code}: pass_mark must be an integer"
        assert 0 <= pass_mark <= 100, f"module {code}: pass_mark {pass_mark} outside 0-100"
        if assessment["kind"] == "none":
            assert pass_mark == 0, f"module {code}: pass_mark must be 0 without assessment"
        else:
            assert pass_mark > 0, f"module {code}: an assessed module needs a pass_mark above 0"


def test_attendance_and_duration(catalogue: Catalogue) -> None:
    for module in catalogue["modules"]:
        code = module["code"]
        attendance = module["min_attendance_pct"]
        assert is_int(attendance), f"module {code}: min_attendance_pct must be an integer"
        assert 0 <= attendance <= 100, f"module {code}: min_attendance_pct {attendance}"
        hours = module["duration_hours"]
        assert is_number(hours), f"module {code}: duration_hours must be a number"
        assert MIN_HOURS <= hours <= MAX_HOURS, f"module {code}: duration_hours {hours}"


def test_tags_are_lowercase_hyphenated(catalogue: Catalogue) -> None:
    for module in catalogue["modules"]:
        tags = module["tags"]
        assert isinstance(tags, list) and tags, f"module {module['code']}: needs tags"
        assert len(set(tags)) == len(tags), f"module {module['code']}: duplicate tags"
        bad = [t for t in tags if not isinstance(t, str) or not SLUG_RE.fullmatch(t)]
        assert not bad, f"module {module['code']}: malformed tags {bad}"


def test_references_are_clean_non_empty_lists(catalogue: Catalogue) -> None:
    for module in catalogue["modules"]:
        refs = module["references"]
        code = module["code"]
        assert isinstance(refs, list) and refs, f"module {code}: needs at least one reference"
        assert len(set(refs)) == len(refs), f"module {code}: duplicate references"
        for ref in refs:
            assert isinstance(ref, str) and ref == ref.strip() and ref, (
                f"module {code}: bad reference {ref!r}"
            )
            assert "  " not in ref, f"module {code}: double space in reference {ref!r}"


def test_core_wps_resolutions_are_covered(catalogue: Catalogue) -> None:
    cited = {ref for module in catalogue["modules"] for ref in module["references"]}
    for resolution in ("1325", "1820", "1888", "2106", "2122", "2242"):
        assert any(ref.startswith(f"UNSCR {resolution} (") for ref in cited), (
            f"no module cites UNSCR {resolution}"
        )


def test_certificates_only_for_few_stand_alone_modules(catalogue: Catalogue) -> None:
    for module in catalogue["modules"]:
        assert isinstance(module["grants_certificate"], bool), (
            f"module {module['code']}: grants_certificate must be true or false"
        )
    certified = [m["code"] for m in catalogue["modules"] if m["grants_certificate"]]
    assert len(certified) <= MAX_CERTIFICATE_MODULES, f"too many certificate modules: {certified}"
    in_tracks = {code for track in catalogue["tracks"] for code in track["modules"]}
    assert not set(certified) & in_tracks, (
        f"modules certified on their own must not also belong to a track: "
        f"{sorted(set(certified) & in_tracks)}"
    )


# --- prerequisites -------------------------------------------------------------------------------


def test_prerequisites_exist(modules: dict[str, dict[str, Any]]) -> None:
    for code, module in modules.items():
        prereqs = module["prerequisites"]
        assert isinstance(prereqs, list), f"module {code}: prerequisites must be a list"
        assert code not in prereqs, f"module {code} lists itself as a prerequisite"
        assert len(set(prereqs)) == len(prereqs), f"module {code}: duplicate prerequisites"
        unknown = [p for p in prereqs if p not in modules]
        assert not unknown, f"module {code}: unknown prerequisites {unknown}"


def test_prerequisites_form_no_cycle(modules: dict[str, dict[str, Any]]) -> None:
    graph = {code: list(module["prerequisites"]) for code, module in modules.items()}
    cycle = find_cycle(graph)
    assert cycle is None, f"prerequisite cycle: {' -> '.join(cycle or [])}"


def test_cycle_detector_itself() -> None:
    assert find_cycle({"A": ["B"], "B": ["C"], "C": []}) is None
    assert find_cycle({"A": ["B", "C"], "B": ["C"], "C": []}) is None  # diamond, not a cycle
    assert find_cycle({"A": ["A"]}) == ["A", "A"]
    assert find_cycle({"A": ["B"], "B": ["C"], "C": ["A"]}) == ["A", "B", "C", "A"]
    assert find_cycle({"X": [], "A": ["B"], "B": ["A"]}) == ["A", "B", "A"]


# --- tracks --------------------------------------------------------------------------------------


def test_track_modules_exist_once(
    tracks: dict[str, dict[str, Any]], modules: dict[str, dict[str, Any]]
) -> None:
    for code, track in tracks.items():
        listed = track["modules"]
        assert isinstance(listed, list) and listed, f"track {code}: needs modules"
        assert len(set(listed)) == len(listed), f"track {code}: a module is listed twice"
        unknown = [m for m in listed if m not in modules]
        assert not unknown, f"track {code}: unknown modules {unknown}"


def test_track_order_respects_prerequisites(
    tracks: dict[str, dict[str, Any]], modules: dict[str, dict[str, Any]]
) -> None:
    """Each prerequisite (direct or indirect) must come earlier in the same track.

    This keeps every track self-contained: completing a track in the listed order never runs
    into a prerequisite that the track itself does not provide.
    """
    problems: list[str] = []
    for code, track in tracks.items():
        position = {module: i for i, module in enumerate(track["modules"])}
        for module in track["modules"]:
            for prereq in sorted(prerequisite_closure(modules, module)):
                if prereq not in position:
                    problems.append(f"track {code}: {module} needs {prereq}, not in the track")
                elif position[prereq] > position[module]:
                    problems.append(f"track {code}: {prereq} must come before {module}")
    assert not problems, "\n".join(problems)


def test_track_validity_and_roles(tracks: dict[str, dict[str, Any]]) -> None:
    for code, track in tracks.items():
        validity = track["validity_months"]
        assert validity is None or (is_int(validity) and validity > 0), (
            f"track {code}: validity_months must be a positive integer or null"
        )
        roles = track["target_roles"]
        assert isinstance(roles, list) and roles, f"track {code}: needs target_roles"
        bad = [r for r in roles if not isinstance(r, str) or not SLUG_RE.fullmatch(r)]
        assert not bad, f"track {code}: malformed target_roles {bad}"
        assert "all" not in roles or roles == ["all"], f"track {code}: 'all' must stand alone"


@pytest.mark.parametrize(
    ("code", "english_title", "validity", "roles"),
    [
        ("GHR-FOUND", "Gender and human rights foundation", 24, ["all"]),
        ("GHR-SGBV", "SEAH and SGBV response", 36, None),
        ("GHR-PCVE", "Gender mainstreaming in P/CVERLT", 36, ["counter-terrorism"]),
    ],
)
def test_mandated_tracks_are_present(
    tracks: dict[str, dict[str, Any]],
    code: str,
    english_title: str,
    validity: int,
    roles: list[str] | None,
) -> None:
    assert code in tracks, f"track {code} ({english_title}) is missing"
    track = tracks[code]
    assert track["title"]["en"] == english_title
    assert track["validity_months"] == validity
    if roles is not None:
        assert track["target_roles"] == roles


# --- requirements --------------------------------------------------------------------------------


def test_requirement_tracks_exist(catalogue: Catalogue, tracks: dict[str, dict[str, Any]]) -> None:
    for req in catalogue["requirements"]:
        assert req["track"] in tracks, f"requirement {req['code']}: unknown track {req['track']}"


def test_requirement_refreshers(catalogue: Catalogue, tracks: dict[str, dict[str, Any]]) -> None:
    """A refresher is another track, made of modules of the track it renews."""
    for req in catalogue["requirements"]:
        refresher = req.get("refresher")
        if refresher is None or req["track"] not in tracks:
            continue
        code = req["code"]
        assert refresher in tracks, f"requirement {code}: unknown refresher track {refresher}"
        assert refresher != req["track"], f"requirement {code}: refresher is its own track"
        extra = set(tracks[refresher]["modules"]) - set(tracks[req["track"]]["modules"])
        assert not extra, f"requirement {code}: refresher modules {sorted(extra)} not in the track"


def test_requirement_selectors(catalogue: Catalogue, tracks: dict[str, dict[str, Any]]) -> None:
    for req in catalogue["requirements"]:
        code, selector = req["code"], req["selector"]
        assert isinstance(selector, dict), f"requirement {code}: selector must be a mapping"
        assert set(selector) == SELECTOR_KEYS, (
            f"requirement {code}: selector keys {sorted(selector)} != {sorted(SELECTOR_KEYS)}"
        )
        for key, value in selector.items():
            ok = value == "all" or (
                isinstance(value, list)
                and value
                and all(isinstance(v, str | int) and not isinstance(v, bool) for v in value)
            )
            assert ok, f"requirement {code}: selector.{key} must be 'all' or a non-empty list"
        if req["track"] not in tracks:
            continue  # reported by test_requirement_tracks_exist
        target_roles = tracks[req["track"]]["target_roles"]
        if isinstance(selector["roles"], list) and target_roles != ["all"]:
            stray = [r for r in selector["roles"] if r not in target_roles]
            assert not stray, (
                f"requirement {code}: roles {stray} are not target roles of {req['track']}"
            )


def test_requirement_periods_match_track(
    catalogue: Catalogue, tracks: dict[str, dict[str, Any]]
) -> None:
    for req in catalogue["requirements"]:
        code = req["code"]
        grace = req["grace_period_days"]
        assert is_int(grace) and grace >= 0, f"requirement {code}: grace_period_days {grace!r}"
        renewal = req["renewal_months"]
        assert is_int(renewal) and renewal > 0, f"requirement {code}: renewal_months {renewal!r}"
        if req["track"] not in tracks:
            continue  # reported by test_requirement_tracks_exist
        validity = tracks[req["track"]]["validity_months"]
        assert renewal == validity, (
            f"requirement {code}: renewal_months {renewal} != validity_months {validity} "
            f"of track {req['track']}"
        )


def test_reminder_days_strictly_descending(catalogue: Catalogue) -> None:
    for req in catalogue["requirements"]:
        days = req["reminder_days"]
        code = req["code"]
        assert isinstance(days, list) and days, f"requirement {code}: needs reminder_days"
        assert all(is_int(d) and d > 0 for d in days), (
            f"requirement {code}: reminder_days must be positive integers, got {days}"
        )
        assert all(a > b for a, b in zip(days, days[1:], strict=False)), (
            f"requirement {code}: reminder_days must be strictly descending, got {days}"
        )


def test_foundation_requirement_covers_everyone(catalogue: Catalogue) -> None:
    by_track = {req["track"]: req for req in catalogue["requirements"]}
    assert "GHR-FOUND" in by_track, "no requirement assigns the foundation track"
    selector = by_track["GHR-FOUND"]["selector"]
    assert all(value == "all" for value in selector.values()), (
        f"the foundation requirement must select all personnel, got {selector}"
    )


def test_clearance_profiles_name_catalogue_modules_and_tracks(
    catalogue: Catalogue, tracks: dict[str, dict[str, Any]]
) -> None:
    """A clearance profile asks only for modules and tracks of the catalogue, each once, and
    its title is in English, Russian and Kazakh."""
    modules = {module["code"] for module in catalogue["modules"]}
    for profile in catalogue["clearance_profiles"]:
        code = profile["code"]
        assert set(profile) == {"code", "title", "items"}, f"clearance profile {code}: fields"
        assert {"en", "ru", "kk"} <= set(profile["title"]), f"clearance profile {code}: title"
        assert CYRILLIC_RE.search(profile["title"]["ru"]), f"clearance profile {code}: ru title"
        named = [(item["kind"], item["code"]) for item in profile["items"]]
        assert len(set(named)) == len(named), f"clearance profile {code}: an item repeats"
        for kind, item in named:
            known = modules if kind == "module" else set(tracks)
            assert item in known, f"clearance profile {code}: unknown {kind} {item}"
