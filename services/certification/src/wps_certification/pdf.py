"""Render a certificate to deterministic PDF bytes (pure, synchronous, process-pool safe)."""

from __future__ import annotations

import base64
import datetime
import html
import io
import pathlib
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pikepdf
import pikepdf.pdfa as pdfa
import segno
from PIL import Image
from reportlab import rl_config
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from wps_certification.fitting import Box, Fitted, fit
from wps_certification.latin import latin_spelling
from wps_common.fields import printable

__all__ = [
    "ASSETS_DIR",
    "CREDENTIAL_FILE",
    "PDFA",
    "TEMPLATE_VERSION",
    "CertificateDocument",
    "CertificateModule",
    "LANGUAGES",
    "CertificateSignatory",
    "render_certificate",
]

TEMPLATE_VERSION = "2026.3"  # 2026.3: Kazakh; the status stamp fitted to its word
CREDENTIAL_FILE = "credential.jwt"
PDFA = "3b"  # the PDF/A flavour certificates are written as
ASSETS_DIR: pathlib.Path = pathlib.Path(__file__).resolve().parent / "assets"
_TEMPLATE = ASSETS_DIR / "certificate.html"
_FONTS = (ASSETS_DIR / "fonts" / "DejaVuSans.ttf", ASSETS_DIR / "fonts" / "DejaVuSans-Bold.ttf")

# The line's width inside the sheet: A4 landscape (297 mm) less the page margins (2 × 7 mm) and
# the sheet's padding (2 × 14 mm), with 2% kept in hand for rounding in xhtml2pdf's layout.
_LINE = (297 - 2 * 7 - 2 * 14) * 72 / 25.4 * 0.98
# The design's sizes (certificate.html) and how far each text may shrink; at its floor a text
# takes as many lines as it needs (names are at most 200 characters, so three at most).
# No letter spacing on centred lines: xhtml2pdf centres a line by its width without the spacing,
# which shifts it right by half of it (a long academy name crossed the frame).
_ACADEMY = Box(_FONTS[1], size=11, floor=7.5, width=_LINE, lines=2, upper=True)
_TITLE = Box(_FONTS[1], size=26, floor=16, width=_LINE, lines=2, upper=True)
_HOLDER = Box(_FONTS[1], size=27, floor=15, width=_LINE, lines=2)
_ORIGINAL = Box(_FONTS[0], size=11, floor=8, width=_LINE, lines=2)
_TRACK = Box(_FONTS[1], size=15, floor=10, width=_LINE, lines=2)
# A signatory's name and title under the signature, in a cell of 62 mm.
_SIGNATORY = Box(_FONTS[1], size=9, floor=7, width=62 * 72 / 25.4 * 0.98 - 8 * 72 / 25.4, lines=2)
_SIGNATORY_TITLE = Box(_FONTS[0], size=7.5, floor=6, width=_SIGNATORY.width, lines=2)
# The status stamp's word: 50 pt capitals with 2 pt letter spacing, on one line across the stamp
# (297 mm less 2 × 49 mm, less its 4 pt borders), shrunk when longer (Kazakh's КҮШІ ЖОЙЫЛДЫ,
# АУЫСТЫРЫЛҒАН). A fifth is kept in hand: xhtml2pdf shifts a letter-spaced centred line right.
_STAMP = Box(
    _FONTS[1], size=50, floor=24, width=((297 - 2 * 49) * 72 / 25.4 - 8) * 0.8, lines=1, spacing=2
)
# Beyond this many modules the table goes in two columns side by side, in smaller type.
_ONE_COLUMN = 8

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
class CertificateSignatory:
    name: str
    title: str
    image: bytes | None = None  # PNG, as certification stores it


@dataclass(frozen=True)
class CertificateDocument:
    language: str  # one of LANGUAGES; anything else falls back to "en"
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
    signatories: tuple[CertificateSignatory, ...] = ()
    seal: bytes | None = None  # PNG
    # the signed credential (VC-JWT), embedded in the PDF; None for a revoked or superseded one
    credential_jwt: str | None = None


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
    # Kazakh puts the verb last: "the holder of this certificate, <name>, has completed the
    # following programme:", so the name needs no case ending.
    "kk": {
        "title": "Оқуды аяқтағаны туралы сертификат",
        "lead": "Осы сертификат иесі",
        "employee": "Табель нөмірі",
        "completed": "келесі оқу бағдарламасын сәтті аяқтады:",
        "code": "Код",
        "module": "Модуль",
        "hours": "Сағат",
        "total": "Жалпы сағат",
        "issued": "Берілген күні",
        "expires": "Жарамдылық мерзімі",
        "no_expiry": "Мерзімсіз",
        "number": "Сертификат нөмірі",
        "code_title": "Тексеру коды",
        "verify": "Тексеру:",
        "template": "Үлгі",
        "revoked": "КҮШІ ЖОЙЫЛДЫ",
        "expired": "МЕРЗІМІ ӨТКЕН",
        "superseded": "АУЫСТЫРЫЛҒАН",
    },
}
# The languages certificates are printed in: those the template has labels in.
LANGUAGES: tuple[str, ...] = tuple(_LABELS)

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
    "kk": tuple(
        "қаңтар ақпан наурыз сәуір мамыр маусым шілде тамыз қыркүйек қазан қараша желтоқсан".split()
    ),
}

_STAMPED_STATUSES = frozenset({"revoked", "expired", "superseded"})

# rl_config.invariant is process-global: the lock keeps one thread from switching it back while
# another renders (xhtml2pdf renders one document at a time per process anyway: no cost).
_INVARIANT_LOCK = threading.Lock()


def _format_date(day: datetime.date, lang: str) -> str:
    month = _MONTHS[lang][day.month - 1]
    if lang == "kk":
        return f"{day.year} жылғы {day.day} {month}"  # as Kazakh documents date themselves
    return f"{day.day} {month} {day.year}"


def _format_hours(hours: float, lang: str) -> str:
    text = f"{hours:.2f}".rstrip("0").rstrip(".")
    return text if lang == "en" else text.replace(".", ",")


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


def _module_rows(
    modules: tuple[CertificateModule, ...],
    labels: dict[str, str],
    lang: str,
    e: Callable[[str], str],
) -> str:
    """The module table's rows: one column of modules, or two side by side when there are more
    than one column holds beside a long name (a track may have 50), then the total."""
    columns = 1 if len(modules) <= _ONE_COLUMN else 2
    per_column = -(-len(modules) // columns)
    head = (
        f'<th style="width: 24mm">{e(labels["code"])}</th><th>{e(labels["module"])}</th>'
        f'<th class="num" style="width: 16mm">{e(labels["hours"])}</th>'
    )
    gap = '<td class="gap" style="width: 6mm"></td>'
    lines = [f"<tr>{(gap.replace('td', 'th')).join([head] * columns)}</tr>"]
    for row in range(per_column):
        cells = []
        for column in range(columns):
            index = column * per_column + row
            if index < len(modules):
                module = modules[index]
                cells.append(
                    f"<td>{e(module.code)}</td><td>{e(module.title)}</td>"
                    f'<td class="num">{_format_hours(module.hours, lang)}</td>'
                )
            else:
                cells.append("<td></td><td></td><td></td>")
        lines.append(f"<tr>{gap.join(cells)}</tr>")
    total = _format_hours(sum(m.hours for m in modules), lang)
    blank = '<td class="gap"></td><td class="gap"></td><td class="gap"></td>' + gap
    lines.append(
        f'<tr>{blank * (columns - 1)}<td class="total"></td>'
        f'<td class="total">{e(labels["total"])}</td><td class="total num">{total}</td></tr>'
    )
    return "\n".join(lines)


def _image(png: bytes, box_mm: tuple[float, float]) -> str:
    """An <img> of the PNG scaled to fit `box_mm` (width, height) with its proportions kept."""
    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
    scale = min(box_mm[0] / width, box_mm[1] / height)
    source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<img src="{source}" width="{width * scale:.1f}mm" height="{height * scale:.1f}mm">'


def _signatures(doc: CertificateDocument, e: Callable[[str], str]) -> str:
    """The signatories side by side, each above a line with the name and title, and the seal."""
    if not doc.signatories and doc.seal is None:
        return ""
    cells = []
    for signatory in doc.signatories:
        name, title = (
            fit(printable(signatory.name), _SIGNATORY),
            fit(printable(signatory.title), _SIGNATORY_TITLE),
        )
        picture = _image(signatory.image, (45, 14)) if signatory.image else ""
        cells.append(
            f'<td style="width: 62mm">{picture}<div class="signature-line">'
            f'<div class="signatory" style="font-size: {name.size}pt">'
            f"{'<br/>'.join(e(line) for line in name.lines)}</div>"
            f'<div class="signatory-title" style="font-size: {title.size}pt">'
            f"{'<br/>'.join(e(line) for line in title.lines)}</div></div></td>"
        )
    if doc.seal is not None:
        cells.append(f'<td style="width: 32mm">{_image(doc.seal, (28, 28))}</td>')
    return f'<table class="signatures" align="center"><tr>{"".join(cells)}</tr></table>'


def _build_html(doc: CertificateDocument) -> str:
    lang = doc.language if doc.language in _LABELS else "en"
    labels = _LABELS[lang]

    def e(text: str) -> str:
        # Escaped, and without control or direction characters: a name holding U+202E would
        # otherwise print reversed (records older than the API's validation may hold one, and
        # names reach certification by events).
        return html.escape(printable(text))

    def lines(fitted: Fitted) -> str:
        return "<br/>".join(e(line) for line in fitted.lines)

    rows = _module_rows(doc.modules, labels, lang, e)
    stamp = (
        f'<div class="stamp" style="font-size: {fitted.size}pt">{lines(fitted)}</div>'
        if doc.status in _STAMPED_STATUSES and (fitted := fit(labels[doc.status], _STAMP))
        else ""
    )
    qr = segno.make(doc.verification_url, error="m").png_data_uri(scale=6, border=2)
    expires = (
        _format_date(doc.expires_on, lang) if doc.expires_on is not None else labels["no_expiry"]
    )
    # An English certificate names a Cyrillic-named holder in Latin letters (as their passport
    # does), with the name as written below it.
    latin = latin_spelling(printable(doc.holder_name)) if lang == "en" else None
    academy = fit(printable(doc.academy_name), _ACADEMY)
    holder = fit(latin or printable(doc.holder_name), _HOLDER)
    track = fit(printable(doc.track_title), _TRACK)
    title = fit(labels["title"], _TITLE)
    original = (
        f'<div class="center original" style="font-size: {fitted.size}pt">{lines(fitted)}</div>'
        if latin and (fitted := fit(printable(doc.holder_name), _ORIGINAL))
        else ""
    )
    values = {
        "lang": lang,
        "doc_title": f"{labels['title']} {doc.number}",
        "lead": labels["lead"],
        "employee_label": labels["employee"],
        "employee_number": doc.employee_number,
        "completed": labels["completed"],
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
    return _template().substitute(
        escaped,
        module_rows=rows,
        module_layout="two-columns" if len(doc.modules) > _ONE_COLUMN else "",
        signatures=_signatures(doc, e),
        status_stamp=stamp,
        academy_lines=lines(academy),
        academy_size=academy.size,
        holder_lines=lines(holder),
        holder_size=holder.size,
        holder_original=original,
        title_lines=lines(title),
        title_size=title.size,
        track_lines=lines(track),
        track_size=track.size,
    )


def _pdf_date(day: datetime.date) -> str:
    return f"D:{day:%Y%m%d}000000Z"


_SHOW_TEXT = frozenset({"Tj", "TJ", "'", '"'})


def _embedded_fonts_only(page: pikepdf.Page) -> None:
    """reportlab selects Helvetica (a standard font, never embedded) when a page begins, and
    xhtml2pdf never draws a glyph with it; PDF/A wants every font in use embedded, so its
    name is pointed at one of the embedded fonts instead. A font that does draw is left as
    it is (the tests' PDF/A validation would then say so)."""
    fonts = page.obj.Resources.get("/Font")
    if fonts is None:
        return
    embedded = [
        font for font in fonts.values() if "/FontDescriptor" in font or "/DescendantFonts" in font
    ]
    bare = {name for name, font in fonts.items() if font not in embedded}
    if not bare or not embedded:
        return
    drawing: set[str] = set()
    current = None
    for instruction in pikepdf.parse_content_stream(page):
        operator = str(instruction.operator)
        if operator == "Tf" and isinstance(instruction, pikepdf.ContentStreamInstruction):
            current = str(instruction.operands[0])
        elif operator in _SHOW_TEXT and current in bare:
            drawing.add(current)
    for name in bare - drawing:
        fonts[name] = embedded[0]


def _archival(data: bytes, doc: CertificateDocument) -> bytes:
    """The PDF as PDF/A-3b: pikepdf's `prepare` writes the XMP metadata that declares it (in
    step with the document information) and the sRGB output intent; the signed credential is
    embedded as an associated file of the document (`/AF`, relationship Alternative: the same
    certificate, machine-readable). Every date is the day of issue, so equal input still gives
    equal bytes. `pikepdf.pdfa.validate_written` approves the result (test_pdf_archival.py)."""
    issued = _pdf_date(doc.issued_on)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            if "/Trans" in page.obj:
                del page.obj["/Trans"]  # a page transition: nothing a certificate needs
            _embedded_fonts_only(page)
        if doc.credential_jwt is not None:
            spec = pikepdf.AttachedFileSpec(
                pdf,
                doc.credential_jwt.encode("ascii"),
                description="The certificate as a signed Open Badges 3.0 credential (VC-JWT)",
                filename=CREDENTIAL_FILE,
                mime_type="application/vc+jwt",
                creation_date=issued,
                mod_date=issued,
            )
            spec.relationship = pikepdf.Name.Alternative
            pdf.attachments[CREDENTIAL_FILE] = spec
            pdf.Root.AF = pikepdf.Array([spec.obj])
        pdfa.prepare(pdf, PDFA)
        moment = f"{doc.issued_on.isoformat()}T00:00:00+00:00"
        with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
            for key in ("xmp:CreateDate", "xmp:ModifyDate", "xmp:MetadataDate"):
                meta[key] = moment
            meta["xmp:CreatorTool"] = "WPS Training Platform"
        out = io.BytesIO()
        pdf.save(out, **pdfa.resolve_save_kwargs(PDFA, deterministic_id=True))
    return out.getvalue()


def render_certificate(doc: CertificateDocument) -> bytes:
    """Render ``doc`` as a one-page A4-landscape PDF/A-3b; raise RuntimeError on failure."""
    return _archival(_html_to_pdf(_build_html(doc)), doc)
