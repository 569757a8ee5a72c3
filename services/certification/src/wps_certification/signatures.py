"""Who signs an academy's certificates, and its seal: images uploaded once (made harmless, kept
as PNG under their hash), and versioned sets of signatories. A certificate is printed with the
set that was current when it was issued."""

from __future__ import annotations

import asyncio
import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.models import CertificateImage, SignatureSet
from wps_certification.pdf import CertificateSignatory
from wps_certification.schemas import ImageOut, SignaturesIn, SignaturesOut
from wps_common.auth import Principal
from wps_common.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge

MAX_IMAGE_BYTES = 512 * 1024
MAX_SIDE = 2000
MEDIA_TYPES = ("image/png", "image/jpeg")


@dataclass(frozen=True)
class Printed:
    """What a certificate prints: its signatories and the seal (PNG)."""

    signatories: tuple[CertificateSignatory, ...]
    seal: bytes | None


def clean_png(data: bytes, media_type: str) -> tuple[bytes, int, int]:
    """The image re-encoded as an RGBA PNG from its pixels alone: no metadata, no text chunks,
    no second payload survives; anything that is not a PNG or JPEG of at most 2000×2000 pixels
    is refused with a sentence."""
    if media_type not in MEDIA_TYPES:
        raise InvalidInput(
            f"Send the image as image/png or image/jpeg, not {media_type or 'no type'}.",
            field="image",
        )
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(
            f"The image is {len(data)} bytes; at most {MAX_IMAGE_BYTES} are accepted."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ("PNG", "JPEG"):
                    raise InvalidInput(
                        f"The file is a {image.format} image; send a PNG or a JPEG.",
                        field="image",
                    )
                width, height = image.size
                if width > MAX_SIDE or height > MAX_SIDE:
                    raise InvalidInput(
                        f"The image is {width}×{height} pixels; at most {MAX_SIDE}×{MAX_SIDE} "
                        "are accepted.",
                        field="image",
                    )
                pixels = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidInput("The file is not a readable PNG or JPEG image.", field="image") from None
    except Image.DecompressionBombWarning:
        raise InvalidInput("The image has too many pixels.", field="image") from None
    out = io.BytesIO()
    pixels.save(out, format="PNG", optimize=True)
    return out.getvalue(), width, height


async def store_image(
    session: AsyncSession, *, academy_id: str, data: bytes, media_type: str, who: Principal
) -> ImageOut:
    who.check_academy(academy_id, "academy")
    # Decoding and re-encoding a 2000×2000 image takes up to about 2 s of CPU: not on the loop.
    png, width, height = await asyncio.to_thread(clean_png, data, media_type)
    image_id = hashlib.sha256(png).hexdigest()
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # The same image twice (or at once from two clients) is one row: its id is its hash.
    await session.execute(
        insert(CertificateImage)
        .values(academy_id=academy_id, id=image_id, png=png, width=width, height=height)
        .on_conflict_do_nothing()
    )
    return ImageOut(id=image_id, width=width, height=height)


async def image(session: AsyncSession, *, academy_id: str, image_id: str, who: Principal) -> bytes:
    who.check_academy(academy_id, "academy")
    stored = await session.get(CertificateImage, (academy_id, image_id))
    if stored is None:
        raise NotFound("No such image.")
    return stored.png


async def _current(session: AsyncSession, academy_id: str) -> SignatureSet | None:
    return await session.scalar(
        select(SignatureSet)
        .where(SignatureSet.academy_id == academy_id)
        .order_by(SignatureSet.version.desc())
        .limit(1)
    )


def _out(academy_id: str, current: SignatureSet | None) -> SignaturesOut:
    if current is None:
        return SignaturesOut(
            academy_id=academy_id,
            signatories=[],
            seal_image_id=None,
            version=0,
            updated_at=None,
            updated_by=None,
        )
    return SignaturesOut.model_validate(
        {
            "academy_id": academy_id,
            "signatories": current.signatories,
            "seal_image_id": current.seal_image_id,
            "version": current.version,
            "updated_at": current.created_at,
            "updated_by": current.created_by,
        }
    )


async def current_signatures(
    session: AsyncSession, *, academy_id: str, who: Principal
) -> SignaturesOut:
    who.check_academy(academy_id, "academy")
    return _out(academy_id, await _current(session, academy_id))


async def set_signatures(
    session: AsyncSession, *, academy_id: str, signatures: SignaturesIn, who: Principal
) -> SignaturesOut:
    """The academy's next set; certificates issued from now on are printed with it."""
    who.check_academy(academy_id, "academy")
    named = {s.signature_image_id for s in signatures.signatories} | {signatures.seal_image_id}
    named.discard(None)
    if named:
        known = set(
            await session.scalars(
                select(CertificateImage.id).where(
                    CertificateImage.academy_id == academy_id, CertificateImage.id.in_(named)
                )
            )
        )
        if unknown := sorted(str(i) for i in named - known):
            raise InvalidInput(
                f"No image {unknown[0]} was uploaded for this academy; upload it to "
                "/v1/certificate-images first.",
                field="signatories",
            )
    last = await session.scalar(
        select(func.max(SignatureSet.version)).where(SignatureSet.academy_id == academy_id)
    )
    created = SignatureSet(
        academy_id=academy_id,
        version=(last or 0) + 1,
        signatories=[s.model_dump() for s in signatures.signatories],
        seal_image_id=signatures.seal_image_id,
        created_by=who.subject,
    )
    session.add(created)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            "The signatories were changed by someone else at the same moment; reload and retry."
        ) from None
    return _out(academy_id, created)


async def current_set_ids(session: AsyncSession, academy_ids: set[str]) -> dict[str, str]:
    """Each academy's current set, for certificates issued now (academies without one are
    left out)."""
    if not academy_ids:
        return {}
    newest = (
        select(SignatureSet.academy_id, func.max(SignatureSet.version).label("version"))
        .where(SignatureSet.academy_id.in_(academy_ids))
        .group_by(SignatureSet.academy_id)
        .subquery()
    )
    rows = await session.execute(
        select(SignatureSet.academy_id, SignatureSet.id).join(
            newest,
            (SignatureSet.academy_id == newest.c.academy_id)
            & (SignatureSet.version == newest.c.version),
        )
    )
    return {academy_id: set_id for academy_id, set_id in rows}


async def printed(session: AsyncSession, academy_id: str, set_id: str | None) -> Printed | None:
    """What a certificate issued under `set_id` prints: names, titles and images."""
    if set_id is None:
        return None
    chosen = await session.get(SignatureSet, set_id)
    if chosen is None:
        return None
    ids = {s.get("signature_image_id") for s in chosen.signatories} | {chosen.seal_image_id}
    ids.discard(None)
    images = {
        stored.id: stored.png
        for stored in await session.scalars(
            select(CertificateImage).where(
                CertificateImage.academy_id == academy_id, CertificateImage.id.in_(ids)
            )
        )
    }
    return Printed(
        signatories=tuple(
            CertificateSignatory(
                name=s["name"],
                title=s.get("title") or "",
                image=images.get(s.get("signature_image_id") or ""),
            )
            for s in chosen.signatories
        ),
        seal=images.get(chosen.seal_image_id or ""),
    )
