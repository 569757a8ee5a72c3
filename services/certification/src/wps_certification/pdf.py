"""Render a certificate to deterministic PDF bytes (pure, synchronous, process-pool safe)."""

from __future__ import annotations

import datetime
import html
import io
import pathlib
import string
import threading
from dataclasses import dataclass
from functools import cache

import segno
from reportlab import rl_config
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from wps_common.fields import printable

__all__ = [
    "ASSETS_DIR",
    "TEMPLATE_VERSION",
    "CertificateDocument",
    "CertificateModule",
    "render_certificate",
]

TEMPLATE_VERSION = "2026.1"
ASSETS_DIR: pathlib.Path = pathlib.Path(__file__).resolve().parent / "assets"
_TEMPLATE = ASSETS_DIR / "certificate.html"
_FONTS = (ASSETS_DIR / "fonts" / "DejaVuSans.ttf", ASSETS_DIR / "fonts" / "DejaVuSans-Bold.ttf")

# The only thing a document may read is our own assets directory: no URL of any kind, no file
# elsewhere. data: URIs are part of the document itself, so the QR code (a data: PNG) passes the
# policy without a link_callback; the tests prove both halves with raw HTML.
_POLICY = ResourceAccessPolicy.server(base_dir=ASSETS_DIR, allow_remote=False)


@dataclass(frozen=True)
class CertificateModule:
    code: str
    title: str
    hours: float


@dataclass(frozen=True)
class CertificateDocument:
    language: str  # "en" or "ru"; anything else falls back to "en"
    holder_name: str
    employee_number: str
    academy_name: str
    track_title: str
    modules: tuple[CertificateModule, ...]
    issued_on: datetime.date
    expires_on: datetime.date | None
    number: str
    verification_code: str
    verification_url: str
    status: str = "valid"  # "valid" | "revoked" | "expired" | "superseded"
    template_version: str = TEMPLATE_VERSION


_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Certificate of completion",
        "lead": "This is to certify that",
        "employee": "Employee No.",
        "completed": "has successfully completed the training programme",
        "code": "Code",
        "module": "Module",
        "hours": "Hours",
        "total": "Total hours",
        "issued": "Date of issue",
        "expires": "Valid until",
        "no_expiry": "No expiry",
        "number": "Certificate No.",
        "code_title": "Verification code",
        "verify": "Verify at",
        "template": "Template",
        "revoked": "REVOKED",
        "expired": "EXPIRED",
        "superseded": "SUPERSEDED",
    },
    "ru": {
        "title": "Сертификат об окончании обучения",
        "lead": "Настоящим удостоверяется, что",
        "employee": "Табельный номер",
        "completed": "успешно завершил(а) программу обучения",
        "code": "Код",
        "module": "Модуль",
        "hours": "Часы",
        "total": "Всего часов",
        "issued": "Дата выдачи",
        "expires": "Действителен до",
        "no_expiry": "Бессрочно",
        "number": "Номер сертификата",
        "code_title": "Код проверки",
        "verify": "Проверка:",
        "template": "Шаблон",
        "revoked": "ОТОЗВАН",
        "expired": "ИСТЁК",
        "superseded": "ЗАМЕНЁН",
    },
}

# Month names spelled out here because the locale module depends on what the host has installed;
# Russian dates need the genitive ("23 ноября 2026").
_MONTHS: dict[str, tuple[str, ...]] = {
    "en": tuple(
        "January February March April May June July August September October November "
        "December".split()
    ),
    "ru": tuple(
        "января февраля марта апреля мая июня июля августа сентября октября ноября декабря".split()
    ),
}

_STAMPED_STATUSES = frozenset({"revoked", "expired", "superseded"})

# rl_config.invariant is process-global: the lock keeps one thread from switching it back while
# another renders (xhtml2pdf renders one document at a time per process anyway: no cost).
_INVARIANT_LOCK = threading.Lock()


def _format_date(day: datetime.date, lang: str) -> str:
    return f"{day.day} {_MONTHS[lang][day.month - 1]} {day.year}"


def _format_hours(hours: float, lang: str) -> str:
    text = f"{hours:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "ru" else text


def _check_fonts() -> None:
    missing = [str(path) for path in _FONTS if not path.is_file()]
    if missing:
        # Without the embedded TTF, Cyrillic silently comes out as boxes: refuse instead.
        raise RuntimeError(f"certificate fonts are missing: {', '.join(missing)}")


def _html_to_pdf(source: str) -> bytes:
    """Convert HTML to PDF under the assets-only resource policy; raise on any pisa error."""
    _check_fonts()
    out = io.BytesIO()
    # invariant mode fixes the creation date and the document /ID, so equal input gives equal
    # bytes; restored afterwards so other reportlab users in the process are left as they were.
    with _INVARIANT_LOCK:
        previous = rl_config.invariant
        rl_config.invariant = 1
        try:
            # path names the template so that relative URLs (the fonts) resolve in ASSETS_DIR.
            result = pisa.CreatePDF(
                source, dest=out, path=str(_TEMPLATE), encoding="utf-8", resource_policy=_POLICY
            )
        except Exception as exc:  # callers in a process pool get one error type to handle
            raise RuntimeError(f"certificate rendering failed: {exc}") from exc
        finally:
            rl_config.invariant = previous
    if result.err:
        messages = "; ".join(str(entry[2]) for entry in result.log if entry[0] == "error")
        raise RuntimeError(f"certificate rendering failed ({result.err} errors): {messages}")
    return out.getvalue()


@cache
def _template() -> string.Template:
    return string.Template(_TEMPLATE.read_text(encoding="utf-8"))


def _build_html(doc: CertificateDocument) -> str:
    lang = doc.language if doc.language in _LABELS else "en"
    labels = _LABELS[lang]

    def e(text: str) -> str:
        # Escaped, and without control or direction characters: a name holding U+202E would
        # otherwise print reversed (records older than the API's validation may hold one, and
        # names reach certification by events).
        return html.escape(printable(text))

    rows = "\n".join(
        f"<tr><td>{e(m.code)}</td><td>{e(m.title)}</td>"
        f'<td class="num">{_format_hours(m.hours, lang)}</td></tr>'
        for m in doc.modules
    )
    stamp = (
        f'<div class="stamp">{e(labels[doc.status])}</div>'
        if doc.status in _STAMPED_STATUSES
        else ""
    )
    qr = segno.make(doc.verification_url, error="m").png_data_uri(scale=6, border=2)
    expires = (
        _format_date(doc.expires_on, lang) if doc.expires_on is not None else labels["no_expiry"]
    )
    values = {
        "lang": lang,
        "doc_title": f"{labels['title']} {doc.number}",
        "academy_name": doc.academy_name,
        "title": labels["title"],
        "lead": labels["lead"],
        "holder_name": doc.holder_name,
        "employee_label": labels["employee"],
        "employee_number": doc.employee_number,
        "completed": labels["completed"],
        "track_title": doc.track_title,
        "code_label": labels["code"],
        "module_label": labels["module"],
        "hours_label": labels["hours"],
        "total_label": labels["total"],
        "total_hours": _format_hours(sum(m.hours for m in doc.modules), lang),
        "issued_label": labels["issued"],
        "issued_on": _format_date(doc.issued_on, lang),
        "expires_label": labels["expires"],
        "expires_on": expires,
        "number_label": labels["number"],
        "number": doc.number,
        "code_title": labels["code_title"],
        "verification_code": doc.verification_code,
        "verify_label": labels["verify"],
        "verification_url": doc.verification_url,
        "template_label": labels["template"],
        "template_version": doc.template_version,
        "qr_data_uri": qr,
    }
    # Everything is escaped here, user text and labels alike; only the pre-escaped fragments
    # (module rows, stamp) are inserted as markup.
    escaped = {key: e(value) for key, value in values.items()}
    return _template().substitute(escaped, module_rows=rows, status_stamp=stamp)


def render_certificate(doc: CertificateDocument) -> bytes:
    """Render ``doc`` as a one-page A4-landscape PDF; raise RuntimeError on failure."""
    return _html_to_pdf(_build_html(doc))
