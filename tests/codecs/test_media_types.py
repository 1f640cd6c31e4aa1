"""Content types and extensions of attachments: every format of the product sheet, and which types
may never be shown inline."""

from __future__ import annotations

import pytest

from appliance.codecs.media_types import (
    OCTET_STREAM,
    content_type_for,
    extension_for,
    is_active_content,
    normalise,
)

# Issue 4's product sheet, format by format.
PRODUCT_SHEET = {
    "applications": "xls xlm xla xlc xlt xlw doc dot ppt pps pot rtf tgz tar zip pdf smi smil ogg cab odf otc odc",
    "audio": "mid midi kar rmi mpga mp2 mp2a mp3 m2a m3a m3u wav wma aif aiff aifc ram ra amr",
    "images": "gif jpeg jpg jpe png svg svgz djvu djv wbmp ico",
    "text": "txt text conf def list log rtx csv java vcf vcs",
    "video": "3gp 3g2 qt mov asf asx avi movie mp4 mp4v mpg4 mpeg mpg mpe m1v m2v",
}
SHEET_EXTENSIONS = [ext for group in PRODUCT_SHEET.values() for ext in group.split()]


@pytest.mark.parametrize("extension", SHEET_EXTENSIONS)
def test_every_format_of_the_product_sheet_has_a_type_that_maps_back_to_its_extension(extension):
    content_type = content_type_for(f"file.{extension}")
    assert content_type != OCTET_STREAM
    assert extension_for(content_type, f"FILE.{extension.upper()}") == extension


@pytest.mark.parametrize(
    ("extension", "content_type"),
    [
        ("jpg", "image/jpeg"),
        ("mp3", "audio/mpeg"),
        ("amr", "audio/amr"),
        ("3gp", "video/3gpp"),
        ("vcf", "text/x-vcard"),
        ("smil", "application/smil"),
        ("xls", "application/vnd.ms-excel"),
        ("svg", "image/svg+xml"),
        ("txt", "text/plain"),
        ("mov", "video/quicktime"),
    ],
)
def test_well_known_pairs(extension, content_type):
    assert content_type_for(f"a.{extension}") == content_type
    assert extension_for(content_type) == extension


def test_the_canonical_extension_when_the_name_does_not_match_the_type():
    assert extension_for("image/jpeg", "photo.png") == "jpg"
    assert extension_for("image/jpeg", None) == "jpg"
    assert extension_for("image/jpeg", "no-extension") == "jpg"
    assert extension_for("image/svg+xml", "innocent.jpg") == "svg"


def test_types_as_phones_send_them_parameters_case_and_aliases():
    assert normalise("IMAGE/JPG; name=a.jpg") == "image/jpeg"
    assert normalise("text/x-vCard") == "text/x-vcard"
    assert normalise("text/vcard") == "text/x-vcard"
    assert normalise("audio/mp3") == "audio/mpeg"
    assert extension_for("text/x-vCard", "jan.vcf") == "vcf"
    assert extension_for("application/smil+xml") == "smil"


def test_unknown_types_and_names_are_octet_stream_kept_as_bin():
    assert content_type_for("archive.xyz") == OCTET_STREAM
    assert content_type_for(None) == OCTET_STREAM
    assert content_type_for("noextension") == OCTET_STREAM
    assert extension_for("application/x-unheard-of", "thing.xyz") == "bin"
    assert extension_for(None) == "bin"
    assert normalise("") == OCTET_STREAM
    assert normalise("garbage") == OCTET_STREAM


def test_octet_stream_keeps_a_known_extension_of_its_name():
    assert extension_for("application/octet-stream", "photo.JPG") == "jpg"


@pytest.mark.parametrize(
    "content_type",
    [
        "image/svg+xml",
        "text/html",
        "text/html; charset=utf-8",
        "application/xhtml+xml",
        "application/vnd.wap.xhtml+xml",
        "application/xml",
        "text/xml",
        "application/javascript",
        "text/javascript",
        "application/ecmascript",
        "application/smil",
        "text/vnd.wap.wml",
        "application/x-shockwave-flash",
        "application/pdf",
        "application/java-archive",
        "application/octet-stream",
        "application/x-unheard-of",
        "application/msword",
        "",
        None,
    ],
)
def test_active_or_unknown_content_is_never_inline(content_type):
    assert is_active_content(content_type)


@pytest.mark.parametrize(
    "content_type",
    ["image/jpeg", "image/png", "image/gif", "audio/amr", "audio/mpeg", "video/3gpp", "video/mp4", "text/plain",
     "text/x-vCard", "IMAGE/JPG"],
)  # fmt: skip
def test_passive_media_may_be_shown(content_type):
    assert not is_active_content(content_type)
