"""MMS attachments on disk: every part is a file named by its SHA-256 under the data directory.

``data_dir/attachments/<aa>/<bb>/<sha256>`` holds the bytes, written aside, fsync'd and renamed into
place, so a power cut on the Pi never leaves a half file under a final name; the same bytes (the
same photo sent to a contest twice) are stored once. The database keeps each part's name, type,
size and hash (:class:`~appliance.db.models.Attachment`) and, for images, the hash of a small JPEG
thumbnail stored the same way.

The bytes are the sender's: nothing here trusts a name, a content type or an image header. Names
lose path separators, control characters and leading dots; images are only decoded by the few
Pillow plugins listed in :data:`THUMBNAIL_FORMATS` and only up to ``max_image_pixels``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.atomic_files import replace_file
from appliance.codecs.media_types import OCTET_STREAM, content_type_for, extension_for, normalise
from appliance.db.models import Attachment, Message

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

ATTACHMENTS_DIR = "attachments"
THUMBNAIL_SIZE = 320  # px, the longer side
THUMBNAIL_QUALITY = 80
# Decoded size limit: 50 MP is 150 MB of RGB, about what a Pi 3 can spare; MMS photos are rarely
# over 2 MP because MMSCs cap messages at 300 KB – 1 MB. A PNG of a few KB can claim far more
# (a decompression bomb), so the header is checked before any pixel is decoded.
MAX_IMAGE_PIXELS = 50_000_000
# Pillow plugins allowed to decode a part. Never SVG (script), and never by sniffing: without this
# list Image.open would try every plugin, EPS included (which runs Ghostscript).
THUMBNAIL_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
THUMBNAIL_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"})

MAX_NAME_LENGTH = 200  # characters, under the 255 of the column, leaving room for "part-…" names
_SHA256 = re.compile(r"[0-9a-f]{64}")
# RFC 2045 §5.1 token characters, type "/" subtype.
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+/[a-z0-9!#$%&'*+.^_`|~-]+")
_PATH_SEPARATORS = re.compile(r"[/\\]")


class AttachmentPart(NamedTuple):
    """One MMS part as :meth:`AttachmentStore.add_parts` takes it (a plain tuple in this order works too)."""

    content_type: str | None
    name: str | None
    data: bytes
    charset: str | None = None
    content_id: str | None = None
    content_location: str | None = None


class AttachmentStore:
    """Content-addressed files under ``data_dir/attachments``, and the Attachment rows that name them."""

    def __init__(self, data_dir: Path | str, *, max_image_pixels: int = MAX_IMAGE_PIXELS,
                 thumbnail_size: int = THUMBNAIL_SIZE):
        self.root = Path(data_dir) / ATTACHMENTS_DIR
        self.max_image_pixels = max_image_pixels
        self.thumbnail_size = thumbnail_size

    def path(self, sha256: str) -> Path:
        """Where the bytes with this hash live (whether or not they are stored yet)."""
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            # The hash becomes a path: anything but 64 lower-case hex digits could climb out of root.
            raise ValueError(f"not a SHA-256 in lower-case hex: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` (once per content) and return its SHA-256 in hex."""
        sha256 = hashlib.sha256(data).hexdigest()
        final = self.path(sha256)
        try:
            if final.stat().st_size == len(data):
                return sha256
            log.warning("attachment file %s has the wrong size; writing it again", final)
        except FileNotFoundError:
            pass
        final.parent.mkdir(parents=True, exist_ok=True)
        replace_file(final, data)
        return sha256

    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes for reading; ``FileNotFoundError`` when they are not stored."""
        return self.path(sha256).open("rb")

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def add_parts(self, session: Session, message: Message,
                  parts: Iterable[AttachmentPart | tuple]) -> list[Attachment]:
        """Store each part's bytes and add one Attachment row per part to ``message`` (not committed).

        Every part is kept, whatever its type; images also get a JPEG thumbnail when they decode.
        Files are written before the rows are flushed, so a committed row always has its file.
        Sequences continue after any attachments the message already has.
        """
        with session.no_autoflush:  # the caller's message may not be ready to be flushed yet
            rows = []
            first = len(message.attachments) + 1
            for sequence, part in enumerate(parts, start=first):
                content_type, name, data, charset, content_id, content_location = AttachmentPart(*part)
                data = bytes(data)
                media_type = stored_content_type(content_type)
                sha256 = self.put(data)
                row = Attachment(
                    sequence=sequence,
                    content_type=media_type,
                    name=safe_name(name) or default_name(sequence, media_type),
                    size=len(data),
                    sha256=sha256,
                    charset=_bounded(charset, 40),
                    content_id=_bounded(content_id, 255),
                    content_location=_bounded(content_location, 255),
                    thumbnail_sha256=self._thumbnail_for(session, media_type, name, data, sha256),
                )
                message.attachments.append(row)
                rows.append(row)
        session.add(message)
        return rows

    def make_thumbnail(self, data: bytes) -> bytes:
        """A JPEG of at most ``thumbnail_size`` px a side; raises when the image does not decode or is too large.

        Pillow is imported here, at the first picture, not with this module: the daemon imports this
        module at start, and most appliances receive SMS only (2.3 MiB of RSS saved until then)."""
        from PIL import Image, ImageOps

        with Image.open(io.BytesIO(data), formats=THUMBNAIL_FORMATS) as image:
            # Image.open reads only the header: refuse a bomb before a single pixel is decoded.
            if image.width * image.height > self.max_image_pixels:
                raise ValueError(f"image of {image.width}×{image.height} px is over the limit of "
                                 f"{self.max_image_pixels} px")
            box = (self.thumbnail_size, self.thumbnail_size)
            image.draft("RGB", box)  # JPEG: decode at 1/2 … 1/8 scale, far less memory on a Pi
            frame = ImageOps.exif_transpose(image)  # phones store photos sideways plus an EXIF hint
            frame.thumbnail(box)
            frame = _flatten_to_rgb(frame)
            out = io.BytesIO()
            frame.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
            return out.getvalue()

    def _thumbnail_for(self, session: Session, media_type: str, name: str | None, data: bytes,
                       sha256: str) -> str | None:
        if not wants_thumbnail(media_type, name):
            return None
        # The same picture sent again (a contest) already has its thumbnail.
        known = session.scalar(select(Attachment.thumbnail_sha256).where(
            Attachment.sha256 == sha256, Attachment.thumbnail_sha256.is_not(None)).limit(1))
        if known is not None and self.exists(known):
            return known
        try:
            thumbnail = self.make_thumbnail(data)
        except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, struct.error …)
            log.warning("no thumbnail for %s attachment %s (%d bytes): %s: %s", media_type, sha256[:12],
                        len(data), type(exc).__name__, exc)
            return None
        return self.put(thumbnail)


def wants_thumbnail(content_type: str | None, name: str | None = None) -> bool:
    """True for the raster formats thumbnails are made of (JPEG, PNG, GIF, WebP, BMP), never SVG."""
    kind = normalise(content_type)
    if kind == OCTET_STREAM:
        kind = content_type_for(name)  # "application/octet-stream; name=photo.jpg" happens
    return kind in THUMBNAIL_TYPES


def safe_name(name: str | None) -> str | None:
    """The sender's file name made harmless to show and to save: the last path segment, no control
    characters, no leading dots or spaces, NFC, at most ``MAX_NAME_LENGTH`` characters (keeping the
    extension). ``None`` when nothing usable is left."""
    if not name:
        return None
    name = unicodedata.normalize("NFC", str(name))
    # Cc (control), Cf (format: the right-to-left override that turns "gpj.exe" around), Cs, Co.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = _PATH_SEPARATORS.split(name)[-1]
    name = name.lstrip(". ").rstrip(" ")
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[:MAX_NAME_LENGTH - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_NAME_LENGTH]
    return name or None


def default_name(sequence: int, content_type: str | None) -> str:
    """``part-3.jpg``: the name of a part the sender gave none."""
    return f"part-{sequence}.{extension_for(content_type)}"


def stored_content_type(content_type: str | None) -> str:
    """The media type as the sender gave it (lower case, no parameters); application/octet-stream
    when it is missing or malformed. Unknown types are kept, never dropped."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if len(media) > 200 or not _MEDIA_TYPE.fullmatch(media):
        return OCTET_STREAM
    return media


def _bounded(value: str | None, length: int) -> str | None:
    if value is None:
        return None
    value = "".join(ch for ch in str(value) if unicodedata.category(ch) != "Cc")
    return value[:length] or None


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    """RGB for JPEG; transparent pixels (PNG, GIF) on white rather than on black."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")
