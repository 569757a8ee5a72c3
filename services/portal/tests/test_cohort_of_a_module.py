"""A cohort of one published module, opened in the portal: CRSV-301 is taught on its own (no
track holds it), and the starter clearance profile asks for it. The academy admin chooses it
under "Single modules" on a Russian page, the cohort list and page say it is a single module,
and once the trainee passes it the clearance page counts it."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from playwright.sync_api import expect

from .arrange import bearer, enrol, eventually, open_cohort, register
from .conftest import Platform, assert_accessible, screenshot, sign_in, use_language

MODULE = "CRSV-301"
PROFILE = "UN-PKO-PREDEPLOY"


def test_an_academy_admin_opens_a_cohort_of_one_module(page: Any, platform: Platform) -> None:
    number = f"CRSV-{uuid.uuid4().hex[:6].upper()}"
    headers = bearer(platform, "academy.ala")
    with httpx.Client(base_url=platform.urls["enrolment"], headers=headers, timeout=15) as api:
        academy = api.get("/v1/academies").json()["items"][0]
        trainee = register(
            api, academy["id"], employee_number=number, given_name="Aruzhan", family_name="Seitova"
        )
    title = f"CRSV, one module {uuid.uuid4().hex[:4]}"

    sign_in(page, "academy.ala", next_path="/academy/cohorts/new")
    use_language(page, "ru")
    assert page.locator("label[for=f-teaches]").inner_text() == "Программа или модуль"
    groups = page.locator("#f-teaches optgroup")
    expect(groups).to_have_count(2)
    assert [g.get_attribute("label") for g in groups.all()] == ["Программы", "Отдельные модули"]
    # The module's published publication reaches the form once curriculum lists it.
    expect(page.locator(f"#f-teaches option[value='module:{MODULE}']")).to_have_count(1)
    assert_accessible(page)
    screenshot(page, "cohort-new-module-ru")

    # Nothing chosen: said beside the field, in the page's language.
    page.fill("#f-title", title)
    page.click("main button[type=submit]")
    expect(page.locator("#f-teaches-error")).to_have_text(
        "Выберите программу или модуль, которым будет учиться группа."
    )
    page.select_option("#f-teaches", f"module:{MODULE}")
    page.fill("#f-starts_on", (date.today() + timedelta(days=1)).isoformat())
    page.fill("#f-ends_on", (date.today() + timedelta(days=2)).isoformat())
    page.fill("#f-capacity", "5")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/academy/cohorts/[^/]+$"))
    assert page.locator("h1").inner_text() == title
    facts = page.locator("dl.facts").inner_text()
    assert "Отдельный модуль" in facts and MODULE in facts
    assert_accessible(page)
    screenshot(page, "cohort-module-ru")
    cohort_id = page.url.rsplit("/", 1)[-1]

    page.goto("/academy/cohorts?track=" + MODULE)
    row = page.locator("main table tr", has_text=title)
    expect(row).to_contain_text("Отдельный модуль")
    assert_accessible(page)

    # CRSV-301 asks for WPS-101 and INT-202 first: refused, the page names the trainee.
    page.goto(f"/academy/cohorts/{cohort_id}?find={number}")
    page.click("main button:has-text('Seitova')")
    expect(page.locator("#enrol-error")).to_have_text(
        "Seitova Aruzhan не прошёл(а) INT-202, WPS-101 — это обязательное условие для записи "
        "в эту группу."
    )
    screenshot(page, "cohort-module-prerequisites-ru")

    # Once they have, they are enrolled; passed, the module's own certificate meets the
    # profile's CRSV-301.
    with httpx.Client(base_url=platform.urls["enrolment"], headers=headers, timeout=15) as api:
        for track, modules in (
            ("GHR-FOUND", ("GHR-101", "WPS-101")),
            ("GHR-SGBV", ("SGBV-201", "INT-202")),
        ):
            earlier = open_cohort(
                api,
                academy["id"],
                track_code=track,
                title=f"{track} before CRSV",
                starts_on=date.today().isoformat(),
                ends_on=(date.today() + timedelta(days=3)).isoformat(),
                capacity=5,
            )
            seat = enrol(api, earlier["id"], trainee["id"])
            for module in modules:
                passed = api.post(
                    f"/v1/enrolments/{seat['id']}/results",
                    json={"module_code": module, "attendance_pct": 100, "score": 90},
                )
                assert passed.status_code == 201, passed.text
    page.goto(f"/academy/cohorts/{cohort_id}?find={number}")
    page.click("main button:has-text('Seitova')")
    expect(page.locator("#seated")).to_contain_text("Seitova Aruzhan")
    with httpx.Client(base_url=platform.urls["enrolment"], headers=headers, timeout=15) as api:
        [enrolment] = api.get(f"/v1/cohorts/{cohort_id}/enrolments").json()["items"]
        result = api.post(
            f"/v1/enrolments/{enrolment['id']}/results",
            json={"module_code": MODULE, "attendance_pct": 100, "score": 95},
        )
        assert result.status_code == 201, result.text

        def met() -> bool:
            found = api.get("/v1/clearance", params={"employee_number": number, "profile": PROFILE})
            items = found.json().get("items", []) if found.status_code == 200 else []
            return any(i["code"] == MODULE and i["status"] == "met" for i in items)

        eventually(met, "the module's certificate to reach enrolment", seconds=30)
    page.goto(f"/clearance?employee_number={number}&profile={PROFILE}#result")
    crsv = page.locator("table.clearance-items tbody tr", has_text=MODULE)
    expect(crsv.locator(".badge")).to_have_text("Действует до окончания миссии")
    screenshot(page, "clearance-module-met-ru")
