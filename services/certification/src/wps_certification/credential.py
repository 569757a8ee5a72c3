"""A certificate as an Open Badges 3.0 OpenBadgeCredential (W3C VC 2.0 shape), signed as VC-JWT."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification import status_list
from wps_certification.certificates import current_status, get_certificate
from wps_certification.language import academy_name_on, text_on, title_on
from wps_certification.models import Certificate
from wps_certification.signing import Keyring
from wps_common.auth import Principal
from wps_common.errors import Conflict

OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
MEDIA_TYPE_JWT = "application/vc+jwt"


def _instant(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=UTC)


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def valid_window(certificate: Certificate) -> tuple[datetime, datetime | None]:
    """From the start of the issue day to the end of the last valid day (UTC)."""
    start = _instant(certificate.issued_on, time(0, 0, 0))
    end = (
        _instant(certificate.expires_on, time(23, 59, 59))
        if certificate.expires_on is not None
        else None
    )
    return start, end


def open_badge(certificate: Certificate, *, base_url: str) -> dict[str, Any]:
    """The credential document. It names the exact curriculum it attests: the track (or
    module) version and content hash, and every module's version, hash and hours."""
    title = title_on(certificate)
    hours = sum(float(m["duration_hours"]) for m in certificate.track["modules"])
    valid_from, valid_until = valid_window(certificate)
    credential: dict[str, Any] = {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": f"urn:uuid:{certificate.id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"{title} — {certificate.number}",
        "issuer": {
            "id": status_list.issuer_id(certificate.academy_id),
            "type": ["Profile"],
            "name": academy_name_on(certificate),
        },
        "validFrom": _z(valid_from),
        "awardedDate": _z(valid_from),
        "credentialSubject": _subject(certificate, _achievement(certificate, title, hours), hours),
        # Revocation and expiry are also answered live by the public verification endpoint.
        "evidence": [_evidence(certificate, base_url)],
    }
    status = status_list.credential_status(certificate, base_url)
    if status is not None:
        credential["credentialStatus"] = status
    if valid_until is not None:
        credential["validUntil"] = _z(valid_until)
    return credential


# The achievement's sentences in the certificate's language (the template's: en, ru, kk).
_HOUR = {"en": "h", "ru": "ч", "kk": "сағ"}
_DESCRIPTION = {
    "en": "{title} — {hours} hours of training: {modules}.",
    "ru": "{title} — {hours} ч обучения: {modules}.",
    "kk": "{title} — {hours} сағат оқу: {modules}.",
}
_CRITERIA = {
    ("en", "track"): "Attended and passed every module of track {code} version {version}",
    ("en", "module"): "Attended and passed every module of module {code} version {version}",
    ("ru", "track"): "Пройдены и сданы все модули программы {code}, версия {version}",
    ("ru", "module"): "Пройден и сдан модуль {code}, версия {version}",
    (
        "kk",
        "track",
    ): "{code} бағдарламасының ({version} нұсқа) барлық модульдері өтіліп, тапсырылды",
    ("kk", "module"): "{code} модулі ({version} нұсқа) өтіліп, тапсырылды",
}
_HASH = {"en": "content hash", "ru": "хеш содержания", "kk": "мазмұн хеші"}


def _achievement(certificate: Certificate, title: str, hours: float) -> dict[str, Any]:
    """What was achieved: the track or module, at the version and content hash completed,
    described in the certificate's language."""
    track = certificate.track
    kind = "module" if certificate.module_code else "track"
    language = certificate.language if certificate.language in _DESCRIPTION else "en"
    hour = _HOUR[language]
    modules = "; ".join(
        f"{m['code']} v{m['version']} ({text_on(m['title'], certificate)}, "
        f"{m['duration_hours']:g} {hour})"
        for m in track["modules"]
    )
    criteria = _CRITERIA[language, kind].format(code=track["code"], version=track["version"])
    return {
        "id": f"urn:wps-training:{kind}:{track['code']}:v{track['version']}",
        "type": ["Achievement"],
        "achievementType": "Certificate",
        "name": title,
        "description": _DESCRIPTION[language].format(
            title=title, hours=f"{hours:g}", modules=modules
        ),
        "criteria": {
            "narrative": (
                f"{criteria} ({_HASH[language]} sha256:{track['content_hash']}): {modules}."
            )
        },
        "humanCode": track["code"],
        "version": str(track["version"]),
        "creditsAvailable": hours,
        "inLanguage": certificate.language,
        "otherIdentifier": [
            {
                "type": "IdentifierEntry",
                "identifier": f"sha256:{track['content_hash']}",
                "identifierType": "ext:contentHash",
            }
        ],
        # Not an Open Badges term (extensions are allowed): the modules exactly as completed.
        "modules": [_module(m, certificate) for m in track["modules"]],
    }


def _module(module: dict[str, Any], certificate: Certificate) -> dict[str, Any]:
    return {
        "code": module["code"],
        "version": module["version"],
        "contentHash": f"sha256:{module['content_hash']}",
        "hours": module["duration_hours"],
        "name": text_on(module["title"], certificate),
    }


def _subject(certificate: Certificate, achievement: dict[str, Any], hours: float) -> dict[str, Any]:
    return {
        "id": f"urn:wps-training:trainee:{certificate.trainee_id}",
        "type": ["AchievementSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "hashed": False,
                "identityHash": certificate.holder_name,
                "identityType": "name",
            }
        ],
        "creditsEarned": hours,
        "achievement": achievement,
    }


def _evidence(certificate: Certificate, base_url: str) -> dict[str, Any]:
    return {
        "id": f"{base_url.rstrip('/')}/v1/verify/{certificate.verification_code}",
        "type": ["Evidence"],
        "name": f"Certificate {certificate.number}",
        "description": "Public verification of this certificate's current status.",
    }


def sign_credential(
    credential: dict[str, Any], certificate: Certificate, *, keyring: Keyring, issuer: str
) -> str:
    """VC-JWT as Open Badges 3.0 defines it: the credential in the `vc` claim, and the
    registered claims mirroring it (so plain JWT libraries check the validity window)."""
    valid_from, valid_until = valid_window(certificate)
    claims: dict[str, Any] = {
        "iss": issuer.rstrip("/"),
        "jti": credential["id"],
        "sub": credential["credentialSubject"]["id"],
        "nbf": int(valid_from.timestamp()),
        "iat": int(valid_from.timestamp()),  # fixed: the same certificate signs to the same JWT
        "vc": credential,
    }
    if valid_until is not None:
        claims["exp"] = int(valid_until.timestamp())
    return keyring.sign(claims)


@dataclass(frozen=True)
class SignedCredential:
    credential: dict[str, Any]
    jwt: str
    status: str


async def current_credential(
    session: AsyncSession,
    *,
    certificate_id: str,
    who: Principal,
    today: date,
    keyring: Keyring,
    base_url: str,
) -> SignedCredential:
    """The signed credential of a certificate `who` may see; none once it is revoked or
    superseded (409)."""
    certificate = await get_certificate(session, certificate_id=certificate_id, who=who)
    status = current_status(certificate, today)
    if status in ("revoked", "superseded"):
        raise Conflict(
            f"This certificate is {status}; its credential is no longer issued "
            "(credentials issued before still verify as such at /v1/verify)."
        )
    credential = open_badge(certificate, base_url=base_url)
    token = sign_credential(credential, certificate, keyring=keyring, issuer=base_url)
    return SignedCredential(credential=credential, jwt=token, status=status)
