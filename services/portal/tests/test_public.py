"""The portal's public side in a real browser: home, sign-in and sign-out through the
provider, the language switch, and verification pages that are pages, never JSON."""

from __future__ import annotations

from typing import Any

from .conftest import Platform, assert_accessible, screenshot, sign_in


def test_home_sign_in_and_sign_out(page: Any, platform: Platform) -> None:
    page.goto("/")
    assert page.locator("h1").inner_text() == "Gender and human-rights training, on record"
    assert_accessible(page)
    screenshot(page, "home-signed-out")

    sign_in(page, "academy.ala")
    # Her profile at the provider says Russian: the portal speaks it without being asked.
    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.locator("h1").inner_text() == "Здравствуйте, Aigerim Bekova"
    tiles = page.locator(".tile strong").all_inner_texts()
    assert "Соответствие требованиям" in tiles and "Импорт из кадровой системы" in tiles
    assert "Вебхуки" not in tiles
    assert_accessible(page)
    cookie = next(c for c in page.context.cookies() if c["name"] == "wps_portal_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"

    page.click("button:has-text('Выйти')")
    page.wait_for_url(f"{platform.portal}/")
    assert page.locator("h1").inner_text() == "Gender and human-rights training, on record"
    # The signed-in session is gone (a new, anonymous one carries the forms' CSRF token).
    after = [c for c in page.context.cookies() if c["name"] == "wps_portal_session"]
    assert all(c["value"] != cookie["value"] for c in after)
    # Signed out at the provider too: signing in again asks for the password.
    page.goto("/auth/sign-in")
    assert page.locator("input[name=password]").count() == 1


def test_a_page_behind_sign_in_comes_back_after_it(page: Any) -> None:
    page.goto("/me/trainings")
    assert page.locator("input[name=password]").count() == 1  # at the provider
    page.fill("input[name=username]", "trainee.ala")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert page.url.endswith("/me/trainings")


def test_forms_without_the_session_token_are_refused(page: Any) -> None:
    sign_in(page, "trainee.ala")
    response = page.request.post("/language", form={"lang": "ru", "csrf_token": "forged"})
    assert response.status == 403
    assert "Форма устарела" in response.text()  # her profile language


def test_unknown_and_malformed_codes_get_pages_not_json(page: Any) -> None:
    page.goto("/verify")
    assert_accessible(page)
    page.fill("#code", "abcd efgh jklm npqr")
    page.click("main button[type=submit]")
    page.wait_for_url("**/verify/ABCD-EFGH-JKLM-NPQR")
    assert "No certificate has this code." in page.locator("[role=alert]").inner_text()
    assert page.locator("pre").count() == 0 and "{" not in page.locator("main").inner_text()
    assert_accessible(page)
    screenshot(page, "verify-unknown")
    page.goto("/verify?code=hello")
    assert "This is not a verification code." in page.locator("[role=alert]").inner_text()


def test_the_language_switch_and_the_browser_language(page: Any, phone: Any) -> None:
    page.goto("/verify")
    page.select_option("#lang-select", "ru")
    page.click("form.lang button")
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.locator("h1").inner_text() == "Проверка сертификата"
    page.select_option("#lang-select", "kk")
    page.click("form.lang button")
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == "kk"
    assert page.locator("h1").inner_text() == "Сертификатты тексеру"
    screenshot(page, "verify-kk")
    # A Russian phone, never switched: Accept-Language decides.
    phone.goto("/verify")
    assert phone.locator("h1").inner_text() == "Проверка сертификата"
    assert_accessible(phone)
    screenshot(phone, "verify-phone-ru")


def test_too_many_lookups_get_a_page_that_says_when_to_try_again(
    platform: Platform, tmp_path: Any
) -> None:
    """The verification limit is per client: the portal passes on who is asking, so one
    client's guessing does not lock out everyone behind the portal."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    # The browser tests hold this thread's event loop: the portal runs in a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, _lookups_until_limited(platform, tmp_path)).result()


async def _lookups_until_limited(platform: Platform, tmp_path: Any) -> None:
    import json

    import httpx

    from wps_platform.launcher import KEYCLOAK_CLAIMS
    from wps_portal.main import create_app
    from wps_portal.settings import PortalSettings

    settings = PortalSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'portal.db'}",
        certification_url=platform.urls["certification"],
        oidc_issuers=platform.urls["idp"],
        oidc_role_map=json.loads(KEYCLOAK_CLAIMS["OIDC_ROLE_MAP"]),
    )
    app = create_app(settings)
    guesser = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
    bystander = httpx.ASGITransport(app=app, client=("198.51.100.8", 40000))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=guesser, base_url="http://portal") as client:
            statuses = []
            for attempt in range(30):
                response = await client.get(f"/verify/AAAA-BBBB-CCCC-{attempt:04d}")
                statuses.append(response.status_code)
                if response.status_code == 429:
                    break
        assert statuses[-1] == 429, statuses
        assert set(statuses[:-1]) == {404}
        assert response.headers["content-type"].startswith("text/html")
        assert "Too many lookups from your network." in response.text
        assert "Please try again in" in response.text
        async with httpx.AsyncClient(transport=bystander, base_url="http://portal") as other:
            unaffected = await other.get("/verify/AAAA-BBBB-CCCC-9999")
        assert unaffected.status_code == 404
