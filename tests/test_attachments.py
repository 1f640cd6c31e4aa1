"""The attachment store: MMS parts as files named by SHA-256, their rows, and image thumbnails."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
import zlib
from datetime import UTC, datetime

import pytest
from PIL import Image

from appliance.attachments import (
    AttachmentPart,
    AttachmentStore,
    safe_name,
    stored_content_type,
    wants_thumbnail,
)
from appliance.db.models import Attachment, Message


def image_bytes(fmt: str, size=(1200, 800), mode="RGB", color=(200, 30, 30), **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt, **save)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A few dozen bytes of PNG whose header announces ``width``×``height`` pixels: a decompression bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


@pytest.fixture
def attachments(tmp_path) -> AttachmentStore:
    return AttachmentStore(tmp_path / "data")


# --- files ------------------------------------------------------------------------------------------

def test_put_stores_the_bytes_under_their_sha256_in_two_levels_of_folders(attachments, tmp_path):
    data = b"BEGIN:VCARD\r\nFN:Jan Kowalski\r\nEND:VCARD\r\n"
    sha256 = attachments.put(data)

    assert sha256 == hashlib.sha256(data).hexdigest()
    expected = tmp_path / "data" / "attachments" / sha256[:2] / sha256[2:4] / sha256
    assert attachments.path(sha256) == expected
    assert expected.read_bytes() == data
    with attachments.open(sha256) as handle:
        assert handle.read() == data


def test_identical_content_is_stored_once(attachments):
    first = attachments.put(b"same photo")
    mtime = attachments.path(first).stat().st_mtime_ns

    assert attachments.put(b"same photo") == first
    assert attachments.path(first).stat().st_mtime_ns == mtime  # not written again
    assert [p.name for p in attachments.root.rglob("*") if p.is_file()] == [first]


def test_empty_content_is_a_file_too(attachments):
    sha256 = attachments.put(b"")
    assert attachments.path(sha256).read_bytes() == b""


def test_a_crash_while_writing_leaves_no_file_under_the_final_name(attachments, monkeypatch):
    def power_cut(*_args):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", power_cut)
    data = b"x" * 10_000
    with pytest.raises(OSError):
        attachments.put(data)

    assert not attachments.path(hashlib.sha256(data).hexdigest()).exists()
    assert [p for p in attachments.root.rglob("*") if p.is_file()] == []  # the scratch file is gone too


def test_the_bytes_are_fsynced_before_the_rename(attachments, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b)))

    attachments.put(b"durable")

    assert calls[:2] == ["fsync", "replace"]


def test_a_truncated_file_under_the_final_name_is_written_again(attachments):
    data = b"0123456789" * 100
    sha256 = attachments.put(data)
    attachments.path(sha256).write_bytes(data[:10])  # e.g. an SD card that lost the tail

    attachments.put(data)

    assert attachments.path(sha256).read_bytes() == data


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "0" * 63, "", "0" * 64 + "/x"])
def test_a_path_is_only_made_from_a_real_sha256(attachments, bad):
    with pytest.raises(ValueError):
        attachments.path(bad)


# --- names and types ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "kept"), [
    ("photo.jpg", "photo.jpg"),
    ("Zdjęcie z wakacji – Łódź.jpg", "Zdjęcie z wakacji – Łódź.jpg"),
    ("Zdje\u0328cie.jpg", "Zdjęcie.jpg"),  # decomposed (as macOS sends it) becomes NFC
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ola\\Desktop\\kot.png", "kot.png"),
    ("/var/lib/appliance/secret_key", "secret_key"),
    (".htaccess", "htaccess"),
    ("...hidden.txt", "hidden.txt"),
    ("  . spaced.txt", "spaced.txt"),
    ("a\x00b\x1b[31mc\r\n.txt", "ab[31mc.txt"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),  # no right-to-left override to disguise an extension
    ("<img src=x onerror=alert(1)>.png", "<img src=x onerror=alert(1)>.png"),  # kept; escaped when shown
    ("<b>x</b>.png", "b>.png"),
])
def test_names_are_made_safe(given, kept):
    assert safe_name(given) == kept


@pytest.mark.parametrize("given", [None, "", "...", "../", "\x00\x01", "dir/"])
def test_a_name_with_nothing_usable_left_is_none(given):
    assert safe_name(given) is None


def test_a_long_name_is_shortened_keeping_its_extension():
    name = safe_name("ą" * 300 + ".jpeg")
    assert len(name) == 200
    assert name.endswith("ą.jpeg")


@pytest.mark.parametrize(("given", "stored"), [
    ("image/jpeg", "image/jpeg"),
    ("IMAGE/JPG; name=a.jpg", "image/jpg"),  # as given, only lower-cased and without parameters
    ("application/x-unknown-thing", "application/x-unknown-thing"),
    ("application/vnd.wap.multipart.related", "application/vnd.wap.multipart.related"),
    (None, "application/octet-stream"),
    ("", "application/octet-stream"),
    ("garbage", "application/octet-stream"),
    ("text/html<script>", "application/octet-stream"),
])
def test_content_types_are_kept_as_given_or_octet_stream(given, stored):
    assert stored_content_type(given) == stored


# --- rows --------------------------------------------------------------------------------------------

def new_mms(session) -> Message:
    message = Message(iccid="8948000000000000001", sender="+48600100200", kind="mms", subject="Konkurs",
                      text="Moje zgłoszenie", status="unmatched", received_at=datetime.now(UTC))
    session.add(message)
    return message


def test_add_parts_keeps_every_part_with_its_metadata(attachments, session_factory):
    jpeg = image_bytes("JPEG")
    smil = b"<smil><body><par><img src='photo.jpg'/></par></body></smil>"
    with session_factory() as session:
        message = new_mms(session)
        attachments.add_parts(session, message, [
            ("application/smil", "smil.xml", smil, None, "smil", "smil.xml"),
            AttachmentPart("image/jpeg", "photo.jpg", jpeg, content_id="img1", content_location="photo.jpg"),
            ("text/plain", None, "Zażółć gęślą jaźń".encode("iso-8859-2"), "iso-8859-2", None, None),
            ("audio/amr", None, b"#!AMR\n" + b"\x3c" * 32, None, None, None),
            ("application/x-strange", "", b"\x00\x01", None, None, None),
            ("", None, b"mystery", None, None, None),
        ])
        session.commit()
        message_id = message.id

    with session_factory() as session:
        rows = session.query(Attachment).filter_by(message_id=message_id).order_by(Attachment.sequence).all()
        summary = [(r.sequence, r.content_type, r.name, r.size, r.charset) for r in rows]
        assert summary == [
            (1, "application/smil", "smil.xml", len(smil), None),
            (2, "image/jpeg", "photo.jpg", len(jpeg), None),
            (3, "text/plain", "part-3.txt", 17, "iso-8859-2"),
            (4, "audio/amr", "part-4.amr", 38, None),
            (5, "application/x-strange", "part-5.bin", 2, None),
            (6, "application/octet-stream", "part-6.bin", 7, None),
        ]
        assert (rows[1].content_id, rows[1].content_location) == ("img1", "photo.jpg")
        for row in rows:
            assert row.sha256 == hashlib.sha256(attachments.read(row.sha256)).hexdigest()
        assert attachments.read(rows[1].sha256) == jpeg  # byte-identical
        assert [r.thumbnail_sha256 is not None for r in rows] == [False, True, False, False, False, False]


def test_the_same_picture_twice_is_one_file_and_one_thumbnail(attachments, session_factory, monkeypatch):
    jpeg = image_bytes("JPEG")
    made = []
    real = attachments.make_thumbnail
    monkeypatch.setattr(attachments, "make_thumbnail", lambda data: made.append(1) or real(data))
    with session_factory() as session:
        first = attachments.add_parts(session, new_mms(session), [("image/jpeg", "a.jpg", jpeg)])
        session.commit()
        second = attachments.add_parts(session, new_mms(session), [("image/jpeg", "b.jpg", jpeg)])
        session.commit()

        assert first[0].sha256 == second[0].sha256
        assert first[0].thumbnail_sha256 == second[0].thumbnail_sha256
        assert len(made) == 1


def test_add_parts_continues_the_sequence_of_a_message(attachments, session_factory):
    with session_factory() as session:
        message = new_mms(session)
        attachments.add_parts(session, message, [("text/plain", "a.txt", b"a")])
        session.commit()
        [row] = attachments.add_parts(session, message, [("text/plain", None, b"b")])
        session.commit()
        assert (row.sequence, row.name) == (2, "part-2.txt")


# --- thumbnails --------------------------------------------------------------------------------------

def thumbnail_of(attachments, data):
    thumbnail = Image.open(io.BytesIO(attachments.make_thumbnail(data)))
    thumbnail.load()
    return thumbnail


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP"])
def test_images_get_a_bounded_jpeg_thumbnail(attachments, fmt):
    thumbnail = thumbnail_of(attachments, image_bytes(fmt, (1200, 800)))

    assert thumbnail.format == "JPEG"
    assert thumbnail.size == (320, 213)
    assert thumbnail.mode == "RGB"


def test_a_small_image_is_not_enlarged(attachments):
    assert thumbnail_of(attachments, image_bytes("PNG", (40, 30))).size == (40, 30)


def test_transparency_becomes_white(attachments):
    thumbnail = thumbnail_of(attachments, image_bytes("PNG", (100, 100), "RGBA", (0, 0, 0, 0)))
    assert thumbnail.getpixel((50, 50)) == (255, 255, 255)


def test_a_photo_taken_sideways_is_turned_upright(attachments):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    assert thumbnail_of(attachments, image_bytes("JPEG", (1200, 800), exif=exif)).size == (213, 320)


@pytest.mark.parametrize(("content_type", "name", "wanted"), [
    ("image/jpeg", None, True),
    ("image/jpg", None, True),  # an alias phones send
    ("image/png", None, True),
    ("image/gif", None, True),
    ("image/webp", None, True),
    ("image/bmp", None, True),
    ("application/octet-stream", "kot.png", True),  # the name tells what it is
    ("image/svg+xml", "a.svg", False),  # script inside: never decoded, never shown
    ("application/octet-stream", "a.svg", False),
    ("image/tiff", None, False),
    ("application/pdf", "a.jpg", False),  # a declared type wins over the name
    ("text/plain", None, False),
])
def test_which_parts_get_a_thumbnail(content_type, name, wanted):
    assert wants_thumbnail(content_type, name) is wanted


def test_only_the_listed_image_formats_are_decoded(attachments):
    out = io.BytesIO()
    Image.new("RGB", (50, 50)).save(out, "TIFF")
    with pytest.raises(Exception, match="cannot identify"):
        attachments.make_thumbnail(out.getvalue())  # TIFF is a format Pillow reads, but not here


def test_a_decompression_bomb_is_refused_before_decoding(attachments, monkeypatch):
    bomb = png_claiming(100_000, 100_000)  # 10 gigapixels in 80 bytes
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self))

    with pytest.raises((Image.DecompressionBombError, ValueError)):
        attachments.make_thumbnail(bomb)
    assert decoded == []


def test_images_over_the_store_pixel_limit_are_refused(tmp_path):
    small_limit = AttachmentStore(tmp_path / "data", max_image_pixels=100 * 100)

    with pytest.raises(ValueError, match="101×100 px is over the limit of 10000 px"):
        small_limit.make_thumbnail(image_bytes("PNG", (101, 100)))
    assert small_limit.make_thumbnail(image_bytes("PNG", (100, 100)))


@pytest.mark.parametrize(("content_type", "data"), [
    ("image/jpeg", image_bytes("JPEG")[:300]),  # truncated
    ("image/gif", b"definitely not a GIF"),
    ("image/png", png_claiming(100_000, 100_000)),  # a bomb
    ("image/png", image_bytes("TIFF", (20, 20))),  # a TIFF labelled PNG
])
def test_an_image_without_a_thumbnail_is_still_an_attachment(attachments, session_factory, caplog,
                                                              content_type, data):
    with session_factory() as session, caplog.at_level(logging.WARNING, logger="appliance.attachments"):
        [row] = attachments.add_parts(session, new_mms(session), [(content_type, "zdjęcie.img", data)])
        session.commit()

        assert row.thumbnail_sha256 is None
        assert (row.content_type, row.name, row.size) == (content_type, "zdjęcie.img", len(data))
        assert attachments.read(row.sha256) == data
    assert f"no thumbnail for {content_type} attachment" in caplog.text
