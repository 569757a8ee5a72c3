"""The language a certificate is printed in: the trainee's when the track has it, else the
academy's first language the track has; its texts and the academy's name in that language."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from wps_certification.language import certificate_language
from wps_common.events.contracts import ModuleFacts, TrackFacts
from wps_common.testing import auth, publish_event, wait_until

from .conftest import ACADEMY_ID, completion, issue, profile

KK_RU_EN = ["kk", "ru", "en"]
NAMES = {
    "kk": "Қазақстан Республикасы ІІМ Қарағанды академиясы",
    "ru": "Карагандинская академия МВД Республики Казахстан",
    "en": "Karaganda Academy of the Ministry of Internal Affairs",
}
OFFICIAL = "Karaganda Academy MIA RK"
KAZAKH = {
    "academy_code": "KZ-KRG",
    "academy_name": OFFICIAL,
    "academy_names": NAMES,
    "academy_languages": KK_RU_EN,
    "given_name": "Әйгерім",
    "family_name": "Нұрғалиқызы",
}
# A track written in Kazakh and Russian only (English is no longer required).
KK_TRACK = TrackFacts(
    code="WPS-KK",
    version=1,
    content_hash="d" * 64,
    title={"kk": "Бейбітшілік пен қауіпсіздіктегі әйелдер", "ru": "Женщины, мир и безопасность"},
    certificate_title={"kk": "Әйелдер, бейбітшілік және қауіпсіздік", "ru": "ЖМБ: основы"},
    validity_months=None,
    modules=[
        ModuleFacts(
            code="WPS-KK-1",
            version=1,
            content_hash="e" * 64,
            # no Kazakh title: the academy's next language, Russian, is printed
            title={"ru": "Резолюция 1325", "en": "Resolution 1325"},
            duration_hours=4,
            assessment="none",
            pass_mark=0,
            min_attendance_pct=80,
        )
    ],
)
RU_TRACK = KK_TRACK.model_copy(
    update={
        "code": "WPS-RU",
        "title": {"ru": "Женщины, мир и безопасность"},
        "certificate_title": {"ru": "Женщины, мир и безопасность"},
    }
)


def facts(certificate_title: dict[str, str], title: dict[str, str] | None = None) -> Any:
    return {"certificate_title": certificate_title, "title": title or {}}


@pytest.mark.parametrize(
    ("preferred", "academy", "track", "language"),
    [
        # the trainee's language, when the track and the template have it
        ("kk", KK_RU_EN, facts({"kk": "…", "ru": "…"}), "kk"),
        ("ru", KK_RU_EN, facts({"kk": "…", "ru": "…"}), "ru"),
        # a certificate title in it, or else a title
        ("kk", KK_RU_EN, facts({"ru": "…"}, {"kk": "…"}), "kk"),
        # the track lacks it: the academy's first language, in its order, that the track has
        ("kk", KK_RU_EN, facts({"en": "…", "ru": "…"}), "ru"),
        ("kk", ["kk", "en", "ru"], facts({"en": "…", "ru": "…"}), "en"),
        ("en", KK_RU_EN, facts({"ru": "…"}), "ru"),
        # the template lacks it (Uzbek): the same
        ("uz", ["uz", "ru", "en"], facts({"uz": "…", "ru": "…"}), "ru"),
        # no academy languages (an older publisher): the first the track is written in
        ("en", [], facts({"ru": "…", "kk": "…"}), "ru"),
        ("de", [], facts({"en": "…", "ru": "…"}), "en"),
        # nothing the template has: English labels with whatever text the track has
        ("kk", ["uz"], facts({"uz": "…"}), "en"),
        # an empty text is no text
        ("kk", KK_RU_EN, facts({"kk": "", "ru": "…"}), "ru"),
    ],
)
def test_the_rule(preferred: str, academy: list[str], track: Any, language: str) -> None:
    assert certificate_language(preferred=preferred, academy_languages=academy, track=track) == (
        language
    )


def pdf_text(data: bytes) -> str:
    return " ".join(PdfReader(io.BytesIO(data)).pages[0].extract_text().split())


async def pdf_of(client: httpx.AsyncClient, certificate_id: str, query: str = "") -> str:
    response = await client.get(f"/v1/certificates/{certificate_id}.pdf{query}", headers=STAFF)
    assert response.status_code == 200, response.text
    return pdf_text(response.content)


async def credential_of(client: httpx.AsyncClient, certificate_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/certificates/{certificate_id}/credential", headers=STAFF)
    assert response.status_code == 200, response.text
    credential: dict[str, Any] = response.json()["credential"]
    return credential


STAFF = auth("academy_admin", academy_id=ACADEMY_ID)


async def test_a_kazakh_speaking_trainee_of_a_kazakh_track_gets_a_kazakh_certificate(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    done = completion("t-kk1", track=KK_TRACK)
    certificate = await issue(bus, database_url, "t-kk1", done, preferred_language="kk", **KAZAKH)
    assert certificate.language == "kk"
    assert (certificate.academy_name, certificate.academy_names) == (OFFICIAL, NAMES)
    assert certificate.academy_languages == KK_RU_EN

    text = await pdf_of(client, certificate.id)
    for expected in (
        "ОҚУДЫ АЯҚТАҒАНЫ ТУРАЛЫ СЕРТИФИКАТ",
        "Осы сертификат иесі",
        "Әйгерім Нұрғалиқызы",
        "Әйелдер, бейбітшілік және қауіпсіздік",
        NAMES["kk"].upper(),
        "Резолюция 1325",  # the module has no Kazakh title: the academy's next language
        "2026 жылғы 20 қараша",
        "Мерзімсіз",
    ):
        assert expected in text, expected
    assert OFFICIAL.upper() not in text and "Aigerim" not in text
    # The QR code's address carries the certificate's language to the verification page.
    assert f"/v1/verify/{certificate.verification_code}?lang=kk" in text

    credential = await credential_of(client, certificate.id)
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["name"] == "Әйелдер, бейбітшілік және қауіпсіздік"
    assert achievement["inLanguage"] == "kk"
    assert achievement["modules"][0]["name"] == "Резолюция 1325"
    # The credential's sentences are in the certificate's language too.
    assert achievement["description"] == (
        "Әйелдер, бейбітшілік және қауіпсіздік — 4 сағат оқу: WPS-KK-1 v1 (Резолюция 1325, 4 сағ)."
    )
    assert achievement["criteria"]["narrative"].startswith(
        "WPS-KK бағдарламасының (1 нұсқа) барлық модульдері өтіліп, тапсырылды (мазмұн хеші sha256:"
    )
    assert credential["issuer"]["name"] == NAMES["kk"]

    verified = (await client.get(f"/v1/verify/{certificate.verification_code}")).json()
    assert verified["language"] == "kk" and verified["academy_name"] == NAMES["kk"]
    # and the academy's names, for a page in another language to name it in that one
    assert (verified["academy_names"], verified["academy_languages"]) == (NAMES, KK_RU_EN)
    assert verified["title"] == "Әйелдер, бейбітшілік және қауіпсіздік"
    page = await client.get(
        f"/v1/verify/{certificate.verification_code}", headers={"Accept": "text/html"}
    )
    assert '<html lang="kk">' in page.text and ">жарамды</p>" in page.text
    assert "Бұл сертификат түпнұсқа және жарамды." in page.text and NAMES["kk"] in page.text

    # Asked for in Russian: Russian labels, texts and academy name.
    russian = await pdf_of(client, certificate.id, "?lang=ru")
    assert "СЕРТИФИКАТ ОБ ОКОНЧАНИИ ОБУЧЕНИЯ" in russian and "ЖМБ: основы" in russian
    assert NAMES["ru"].upper() in russian
    assert f"/v1/verify/{certificate.verification_code}?lang=ru" in russian


async def test_a_kazakh_speaking_trainee_of_a_track_without_kazakh_gets_russian(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    # TRACK is in English and Russian; the academy's languages are Kazakh, Russian, English.
    certificate = await issue(bus, database_url, "t-kk2", preferred_language="kk", **KAZAKH)
    assert certificate.language == "ru"
    text = await pdf_of(client, certificate.id)
    assert "СЕРТИФИКАТ ОБ ОКОНЧАНИИ ОБУЧЕНИЯ" in text
    assert "Гендер и права человека" in text and NAMES["ru"].upper() in text
    credential = await credential_of(client, certificate.id)
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["name"] == "Гендер и права человека"
    assert achievement["description"].startswith("Гендер и права человека — ")
    assert " ч обучения: " in achievement["description"]
    assert achievement["criteria"]["narrative"].startswith("Пройдены и сданы все модули программы")
    assert "hours" not in achievement["description"] + achievement["criteria"]["narrative"]
    assert credential["issuer"]["name"] == NAMES["ru"]

    # Asked for in Kazakh, which the track lacks: the certificate's own language, never
    # Kazakh labels over a Russian title.
    kazakh = await pdf_of(client, certificate.id, "?lang=kk")
    assert kazakh == text
    assert "ОҚУДЫ АЯҚТАҒАНЫ ТУРАЛЫ СЕРТИФИКАТ" not in kazakh
    # Asked for in English, which the track has: English labels, title and academy name.
    english = await pdf_of(client, certificate.id, "?lang=en")
    assert "CERTIFICATE OF COMPLETION" in english and NAMES["en"].upper() in english
    listed = await client.get(
        f"/v1/certificates?trainee_id={certificate.trainee_id}", headers=STAFF
    )
    assert listed.json()["items"][0]["pdf_languages"] == ["ru", "en"]

    # A language the template does not know is refused, naming those it knows.
    for unknown in ("de", "xx"):
        refused = await client.get(
            f"/v1/certificates/{certificate.id}.pdf?lang={unknown}", headers=STAFF
        )
        assert refused.status_code == 422, unknown
        assert refused.headers["content-type"] == "application/problem+json"
        assert "en, ru, kk" in refused.json()["detail"]


async def test_an_english_speaking_trainee_of_a_russian_only_track_gets_russian(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    done = completion("t-kk3", track=RU_TRACK)
    certificate = await issue(
        bus,
        database_url,
        "t-kk3",
        done,
        preferred_language="en",
        academy_languages=[],  # from a publisher that predates academy languages
        academy_names={},
    )
    assert certificate.language == "ru"
    text = await pdf_of(client, certificate.id)
    assert "СЕРТИФИКАТ ОБ ОКОНЧАНИИ ОБУЧЕНИЯ" in text and "Женщины, мир и безопасность" in text
    assert "KYIV POLICE ACADEMY" in text  # no localised names: the official one
    credential = await credential_of(client, certificate.id)
    assert credential["credentialSubject"]["achievement"]["name"] == "Женщины, мир и безопасность"
    assert credential["issuer"]["name"] == "Kyiv Police Academy"


async def test_an_english_certificate_names_the_academy_in_english_and_spells_the_holder_latin(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    certificate = await issue(bus, database_url, "t-kk4", preferred_language="en", **KAZAKH)
    assert certificate.language == "en"
    text = await pdf_of(client, certificate.id)
    assert "CERTIFICATE OF COMPLETION" in text and NAMES["en"].upper() in text
    assert "Aigerim Nurgalikyzy" in text and "Әйгерім Нұрғалиқызы" in text


async def test_a_reissue_keeps_the_language_unless_the_holders_changed(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    done = completion("t-kk5", track=KK_TRACK)
    old = await issue(
        bus, database_url, "t-kk5", done, preferred_language="kk", **{**KAZAKH, "given_name": "Ә"}
    )
    assert old.language == "kk"

    async def reissued(changes: dict[str, Any], certificate_id: str) -> dict[str, Any]:
        await publish_event(bus, profile("t-kk5", changed_at=datetime.now(UTC), **changes))

        async def done() -> dict[str, Any] | None:
            response = await client.post(
                f"/v1/certificates/{certificate_id}/reissue", headers=STAFF
            )
            return response.json() if response.status_code == 201 else None

        new = await wait_until(done, what="the corrected profile to arrive")
        assert new is not None
        return new

    # The name is corrected; the language stays.
    fixed = await reissued({**KAZAKH, "preferred_language": "kk"}, old.id)
    assert fixed["language"] == "kk" and fixed["holder_name"] == "Әйгерім Нұрғалиқызы"
    # The holder now reads Russian, and the name is corrected again: the new edition is Russian.
    russian = await reissued(
        {**KAZAKH, "preferred_language": "ru", "family_name": "Нұрғали"}, fixed["id"]
    )
    assert russian["language"] == "ru"
    assert russian["academy_name"] == OFFICIAL  # the record keeps the official name


async def test_the_issue_date_is_the_academys_date_of_completion(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    """track.completed's completed_on is the academy's own date (enrolment dates completions on
    the academy's calendar): a course finished at 00:30 on 1 January in Almaty, still
    31 December in UTC, is certified on 1 January, numbered in that year."""
    done = completion("t-kk6", track=KK_TRACK, completed_on=date(2027, 1, 1))
    certificate = await issue(bus, database_url, "t-kk6", done, preferred_language="kk", **KAZAKH)
    assert certificate.issued_on == date(2027, 1, 1)
    assert "-2027-" in certificate.number
    assert "2027 жылғы 1 қаңтар" in await pdf_of(client, certificate.id)
    credential = await credential_of(client, certificate.id)
    assert credential["validFrom"] == credential["awardedDate"] == "2027-01-01T00:00:00Z"


async def test_a_track_with_a_kazakh_title_but_no_kazakh_certificate_title_prints_it(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    """Kazakh labels over the track's Kazakh title, not over its Russian certificate title."""
    track = KK_TRACK.model_copy(
        update={"code": "WPS-KT", "certificate_title": {"ru": "ЖМБ: основы"}}
    )
    done = completion("t-kk7", track=track)
    certificate = await issue(bus, database_url, "t-kk7", done, preferred_language="kk", **KAZAKH)
    assert certificate.language == "kk"
    text = await pdf_of(client, certificate.id)
    assert "ОҚУДЫ АЯҚТАҒАНЫ ТУРАЛЫ СЕРТИФИКАТ" in text
    assert "Бейбітшілік пен қауіпсіздіктегі әйелдер" in text and "ЖМБ: основы" not in text
    credential = await credential_of(client, certificate.id)
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["name"] == "Бейбітшілік пен қауіпсіздіктегі әйелдер"
    verified = (await client.get(f"/v1/verify/{certificate.verification_code}")).json()
    assert verified["title"] == "Бейбітшілік пен қауіпсіздіктегі әйелдер"
    # in Russian, the certificate title
    assert "ЖМБ: основы" in await pdf_of(client, certificate.id, "?lang=ru")
