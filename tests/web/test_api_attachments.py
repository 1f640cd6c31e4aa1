"""MMS attachments over HTTP: downloads that never render active content, thumbnails, message JSON, panel."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest
from PIL import Image

from appliance.attachments import AttachmentStore
from appliance.db.models import Message
from tests.web.event_stream import EventStream
from tests.web.shops import two_shops

SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(document.cookie)</script></svg>')
HTML = b"<!doctype html><script>fetch('/api/v1/messages')</script>"
HOSTILE_NAME = '"><img src=x onerror="window.pwned=1">.jpg'


def jpeg(size=(800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(out, "JPEG")
    return out.getvalue()


class Mms:
    """Stores an MMS the way the fetcher does: rows through AttachmentStore.add_parts, files in data_dir."""

    def __init__(self, session_factory, settings):
        self._sessions = session_factory
        self.files = AttachmentStore(settings.data_dir)

    def __call__(self, parts, **fields):
        values = {"iccid": "8948000000000000001", "sender": "+48600100200", "kind": "mms",
                  "subject": "Konkurs: zdjęcie 📷", "text": "Moje zgłoszenie", "status": "unmatched",
                  "received_at": datetime.now(UTC)}
        values.update(fields)
        with self._sessions() as session:
            message = Message(**values)
            session.add(message)
            rows = self.files.add_parts(session, message, parts)
            session.commit()
            return message.id, [row.id for row in rows]


@pytest.fixture
def mms(session_factory, settings) -> Mms:
    return Mms(session_factory, settings)


def disposition_name(response) -> str:
    header = response.headers["Content-Disposition"]
    assert header.startswith("attachment;")
    [encoded] = re.findall(r"filename\*=UTF-8''([^;\s]+)", header)
    return unquote(encoded, encoding="utf-8", errors="strict")


# --- GET /api/v1/attachments/{id} --------------------------------------------------------------------

def test_a_jpeg_downloads_byte_identical_as_an_attachment(client, auth, mms):
    photo = jpeg()
    _, [attachment_id] = mms([("image/jpeg", "photo.jpg", photo)])

    response = client.get(f"/api/v1/attachments/{attachment_id}", headers=auth)

    assert response.status_code == 200
    assert response.get_data() == photo
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Content-Disposition"] == "attachment; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["ETag"] == f'"{hashlib.sha256(photo).hexdigest()}"'


def test_an_unchanged_download_is_not_sent_again(client, auth, mms):
    _, [attachment_id] = mms([("image/jpeg", "photo.jpg", jpeg())])
    etag = client.get(f"/api/v1/attachments/{attachment_id}", headers=auth).headers["ETag"]

    response = client.get(f"/api/v1/attachments/{attachment_id}", headers={**auth, "If-None-Match": etag})

    assert response.status_code == 304


@pytest.mark.parametrize(("content_type", "name", "data"), [
    ("image/svg+xml", "logo.svg", SVG),
    ("text/html", "index.html", HTML),
    ("application/xhtml+xml", "page.xhtml", HTML),
    ("text/xml", "data.xml", b"<?xml version='1.0'?><x/>"),
    ("application/javascript", "app.js", b"alert(1)"),
    ("application/smil", "smil.smil", b"<smil/>"),
    ("application/x-never-heard-of-it", "thing.bin", HTML),  # unknown: not known to be harmless
])
def test_active_content_is_only_ever_an_opaque_download(client, auth, mms, content_type, name, data):
    _, [attachment_id] = mms([(content_type, name, data)])

    response = client.get(f"/api/v1/attachments/{attachment_id}", headers=auth)

    assert response.status_code == 200
    assert response.get_data() == data
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert disposition_name(response) == name
    csp = response.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp


def test_a_text_part_is_served_with_its_own_charset(client, auth, mms):
    text = "Zażółć gęślą jaźń".encode("iso-8859-2")
    _, [attachment_id] = mms([("text/plain", None, text, "iso-8859-2", None, None)])

    response = client.get(f"/api/v1/attachments/{attachment_id}", headers=auth)

    assert response.get_data() == text
    assert response.headers["Content-Type"] == "text/plain; charset=iso-8859-2"
    assert disposition_name(response) == f"part-{1}.txt"


def test_a_polish_file_name_survives_the_download(client, auth, mms):
    name = "Zdjęcie z Łodzi – żółw.jpg"
    _, [attachment_id] = mms([("image/jpeg", name, jpeg())])

    response = client.get(f"/api/v1/attachments/{attachment_id}", headers=auth)

    header = response.headers["Content-Disposition"]
    assert header.isascii()  # RFC 5987: the real name percent-encoded, never raw UTF-8 in a header
    assert "filename*=UTF-8''Zdj%C4%99cie%20z%20%C5%81odzi%20%E2%80%93%20%C5%BC%C3%B3%C5%82w.jpg" in header
    assert 'filename="Zdjecie z _odzi _ zo_w.jpg"' in header  # the ASCII stand-in for old clients
    assert disposition_name(response) == name


def test_quotes_in_a_name_cannot_break_out_of_the_header(client, auth, mms):
    _, [attachment_id] = mms([("image/jpeg", 'a"; filename="evil.exe', jpeg())])

    header = client.get(f"/api/v1/attachments/{attachment_id}", headers=auth).headers["Content-Disposition"]

    assert header == ("attachment; filename=\"a_; filename=_evil.exe\"; "
                      "filename*=UTF-8''a%22%3B%20filename%3D%22evil.exe")


def test_an_unknown_attachment_is_a_json_404(client, auth):
    response = client.get("/api/v1/attachments/999999", headers=auth)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_attachments_need_a_token(client, mms):
    _, [attachment_id] = mms([("image/jpeg", "photo.jpg", jpeg())])

    assert client.get(f"/api/v1/attachments/{attachment_id}").status_code == 401
    assert client.get(f"/api/v1/attachments/{attachment_id}/thumbnail").status_code == 401


def test_a_missing_file_is_reported_not_crashed_on(client, auth, mms):
    _, [attachment_id] = mms([("audio/amr", "clip.amr", b"#!AMR\n")])
    mms.files.path(hashlib.sha256(b"#!AMR\n").hexdigest()).unlink()

    response = client.get(f"/api/v1/attachments/{attachment_id}", headers=auth)

    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "attachment_file_missing"
    assert f"attachment {attachment_id}" in response.get_json()["error"]["message"]


# --- GET /api/v1/attachments/{id}/thumbnail ----------------------------------------------------------

def test_an_image_has_a_jpeg_thumbnail(client, auth, mms):
    _, [attachment_id] = mms([("image/jpeg", "photo.jpg", jpeg((1600, 1200)))])

    response = client.get(f"/api/v1/attachments/{attachment_id}/thumbnail", headers=auth)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(response.get_data())).size == (320, 240)


@pytest.mark.parametrize(("content_type", "name", "data"), [
    ("image/svg+xml", "logo.svg", SVG),
    ("image/jpeg", "broken.jpg", b"\xff\xd8\xff\xe0 not really"),
    ("text/x-vcard", "jan.vcf", b"BEGIN:VCARD\r\nEND:VCARD\r\n"),
])
def test_parts_without_a_thumbnail_answer_404(client, auth, mms, content_type, name, data):
    _, [attachment_id] = mms([(content_type, name, data)])

    response = client.get(f"/api/v1/attachments/{attachment_id}/thumbnail", headers=auth)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/attachments/{attachment_id}", headers=auth).status_code == 200


def test_an_unknown_attachment_has_no_thumbnail(client, auth):
    assert client.get("/api/v1/attachments/999999/thumbnail", headers=auth).status_code == 404


# --- the message object ------------------------------------------------------------------------------

def test_a_message_lists_its_attachments_with_absolute_urls(client, auth, mms):
    vcard = b"BEGIN:VCARD\r\nFN:Jan\r\nEND:VCARD\r\n"
    photo = jpeg()
    message_id, [photo_id, vcard_id] = mms([("image/jpeg", "photo.jpg", photo), ("text/x-vcard", None, vcard)])

    item = client.get(f"/api/v1/messages/{message_id}", headers=auth,
                      base_url="http://appliance.local:8080").get_json()

    assert item["kind"] == "mms"
    assert item["subject"] == "Konkurs: zdjęcie 📷"
    assert item["text"] == "Moje zgłoszenie"
    assert item["attachments"] == [
        {"id": photo_id, "content_type": "image/jpeg", "name": "photo.jpg", "size": len(photo),
         "url": f"http://appliance.local:8080/api/v1/attachments/{photo_id}",
         "thumbnail_url": f"http://appliance.local:8080/api/v1/attachments/{photo_id}/thumbnail",
         "sha256": hashlib.sha256(photo).hexdigest()},
        {"id": vcard_id, "content_type": "text/x-vcard", "name": "part-2.vcf", "size": len(vcard),
         "url": f"http://appliance.local:8080/api/v1/attachments/{vcard_id}",
         "thumbnail_url": None,
         "sha256": hashlib.sha256(vcard).hexdigest()},
    ]


def test_the_message_list_carries_attachments_and_their_urls_work(client, auth, mms, store):
    store.message(text="an SMS")
    _, [photo_id] = mms([("image/jpeg", "photo.jpg", jpeg())])

    items = client.get("/api/v1/messages", headers=auth).get_json()["items"]

    assert [len(i["attachments"]) for i in items] == [0, 1]
    [attachment] = items[1]["attachments"]
    assert attachment["id"] == photo_id
    assert attachment["url"] == f"http://localhost/api/v1/attachments/{photo_id}"
    for url in (attachment["url"], attachment["thumbnail_url"]):
        assert client.get(url, headers=auth).status_code == 200


# --- the panel ---------------------------------------------------------------------------------------

def test_the_panel_shows_an_mms_with_its_thumbnail_and_download_links(panel, mms):
    photo = jpeg()
    vcard = b"BEGIN:VCARD\r\nEND:VCARD\r\n" * 100
    message_id, [photo_id, vcard_id, svg_id] = mms([
        ("image/jpeg", "photo.jpg", photo),
        ("text/x-vcard", "jan.vcf", vcard),
        ("image/svg+xml", "logo.svg", SVG),
    ])

    html = panel.get("/inbox").get_data(as_text=True)

    row = html[html.index(f'id="message-{message_id}"'):]
    row = row[:row.index("</tr>")]
    assert "Konkurs: zdjęcie 📷" in row
    assert "Moje zgłoszenie" in row
    assert "MMS" in row
    # Our JPEG thumbnail is the only picture shown inline, and it links to the download.
    images = re.findall(r"<img [^>]*>", row)
    assert images == [f'<img src="/panel/attachments/{photo_id}/thumbnail" alt="photo.jpg" loading="lazy">']
    assert f'<a class="thumbnail" href="/panel/attachments/{photo_id}" download>' in row
    assert "<object" not in row and "<embed" not in row and "<iframe" not in row
    assert f'href="/panel/attachments/{vcard_id}" download>jan.vcf</a>' in row
    assert "2.4 kB" in row  # the vCard's 2400 bytes
    assert f'href="/panel/attachments/{svg_id}" download>logo.svg</a>' in row
    assert f"/panel/attachments/{svg_id}/thumbnail" not in row

    assert panel.get(f"/panel/attachments/{photo_id}").get_data() == photo
    assert panel.get(f"/panel/attachments/{photo_id}/thumbnail").headers["Content-Type"] == "image/jpeg"


def test_the_panel_serves_attachments_with_the_api_headers(panel, mms):
    _, [svg_id] = mms([("image/svg+xml", "logo.svg", SVG)])

    response = panel.get(f"/panel/attachments/{svg_id}")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert panel.get(f"/panel/attachments/{svg_id}/thumbnail").status_code == 404
    assert panel.get("/panel/attachments/999999").status_code == 404


def test_the_panel_escapes_a_hostile_file_name(panel, mms):
    mms([("image/jpeg", HOSTILE_NAME, jpeg()), ("application/pdf", "<script>window.pwned=1<", b"%PDF-")],
        subject="<b>subject</b>")

    html = panel.get("/inbox").get_data(as_text=True)

    assert "<img src=x" not in html
    assert 'onerror="window.pwned=1"' not in html
    assert "<script>window.pwned" not in html
    assert "&#34;&gt;&lt;img src=x onerror=&#34;window.pwned=1&#34;&gt;.jpg" in html
    assert "&lt;script&gt;window.pwned=1&lt;" in html
    assert "&lt;b&gt;subject&lt;/b&gt;" in html


def test_live_updates_render_attachments_too(panel, mms):
    _, [photo_id] = mms([("image/jpeg", "photo.jpg", jpeg())])

    stream = EventStream.open(panel, "/panel/events?last_event_id=0")
    row = stream.until("message").data["html"]
    stream.close()

    assert f'src="/panel/attachments/{photo_id}/thumbnail"' in row


def test_an_account_user_cannot_download_another_accounts_mms_parts(signed_in, users, mms, session_factory):
    florist, pizzeria = two_shops(session_factory)
    _, [own_id] = mms([("image/jpeg", "róże.jpg", jpeg())], iccid=florist.iccid, account_id=florist.account_id)
    _, [theirs_id] = mms([("image/jpeg", "tajne.jpg", jpeg())], iccid=pizzeria.iccid, account_id=pizzeria.account_id)
    _, [loose_id] = mms([("image/jpeg", "luzem.jpg", jpeg())])  # unmatched: no account
    owner = signed_in(users.create("kwiaciarnia@example.com", admin=False, account_id=florist.account_id))

    assert owner.get(f"/panel/attachments/{own_id}").status_code == 200
    assert owner.get(f"/panel/attachments/{own_id}/thumbnail").status_code == 200
    for other in (theirs_id, loose_id):
        assert owner.get(f"/panel/attachments/{other}").status_code == 404
        assert owner.get(f"/panel/attachments/{other}/thumbnail").status_code == 404
    inbox = owner.get("/inbox").get_data(as_text=True)
    assert "róże.jpg" in inbox and "tajne.jpg" not in inbox and "luzem.jpg" not in inbox


# --- the MMS gallery ----------------------------------------------------------------------------------

def tiles(html):
    return [int(n) for n in re.findall(r'<li class="tile[^"]*" id="attachment-(\d+)"', html)]


def test_the_gallery_shows_our_thumbnails_and_file_tiles_every_one_a_download(panel, mms):
    message_id, [photo_id, vcard_id, svg_id] = mms([
        ("image/jpeg", "photo.jpg", jpeg()),
        ("text/x-vcard", "jan.vcf", b"BEGIN:VCARD\r\nEND:VCARD\r\n" * 100),
        ("image/svg+xml", "logo.svg", SVG),
    ])

    html = panel.get("/gallery").get_data(as_text=True)

    assert tiles(html) == [svg_id, vcard_id, photo_id]  # newest first
    # The only pictures are our own JPEG thumbnails; the SVG (active content) is a file tile.
    assert re.findall(r"<img [^>]*>", html) == [
        f'<img src="/panel/attachments/{photo_id}/thumbnail" alt="photo.jpg" loading="lazy">']
    assert "<object" not in html and "<embed" not in html and "<iframe" not in html
    for part_id in (photo_id, vcard_id, svg_id):
        links = re.findall(rf'<a [^>]*href="/panel/attachments/{part_id}"[^>]*>', html)
        assert len(links) == 2 and all(" download" in link for link in links)
    vcard = html[html.index(f'id="attachment-{vcard_id}"'):]
    vcard = vcard[:vcard.index("</li>")]
    assert '<span class="file-icon" aria-hidden="true">VCF</span>' in vcard
    assert "text/x-vcard · 2.4 kB" in vcard
    assert f'href="/inbox?before_id={message_id + 1}#message-{message_id}"' in vcard
    assert "From +48600100200" in vcard
    inbox = panel.get(f"/inbox?before_id={message_id + 1}").get_data(as_text=True)
    assert f'id="message-{message_id}"' in inbox


def test_the_gallery_pages_through_older_parts(panel, mms):
    ids = []
    for n in range(5):
        ids += mms([("text/plain", f"note{n}-{part}.txt", b"x") for part in range(10)])[1]

    first = panel.get("/gallery").get_data(as_text=True)
    older = re.search(r'<a href="([^"]+)" rel="next">', first).group(1)
    second = panel.get(older).get_data(as_text=True)

    assert tiles(first) == ids[::-1][:48]
    assert tiles(second) == ids[::-1][48:]
    assert 'rel="next"' not in second and "Newest" in second


def test_the_gallery_shows_an_account_user_only_its_own_parts(signed_in, users, mms, session_factory):
    florist, pizzeria = two_shops(session_factory)
    _, [own_id] = mms([("image/jpeg", "róże.jpg", jpeg())], iccid=florist.iccid, account_id=florist.account_id)
    mms([("image/jpeg", "tajne.jpg", jpeg())], iccid=pizzeria.iccid, account_id=pizzeria.account_id)
    mms([("image/jpeg", "luzem.jpg", jpeg())])
    owner = signed_in(users.create("kwiaciarnia@example.com", admin=False, account_id=florist.account_id))

    html = owner.get("/gallery").get_data(as_text=True)

    assert tiles(html) == [own_id]
    assert "tajne.jpg" not in html and "luzem.jpg" not in html


def test_the_gallery_escapes_hostile_file_names_and_says_when_it_is_empty(panel, mms):
    assert "No MMS pictures or files yet." in panel.get("/gallery").get_data(as_text=True)
    mms([("image/jpeg", HOSTILE_NAME, jpeg()), ("application/pdf", "<script>window.pwned=1<", b"%PDF-")],
        sender='<b onmouseover="x">')

    html = panel.get("/gallery").get_data(as_text=True)

    assert "<img src=x" not in html and "<script>window.pwned" not in html and "<b onmouseover" not in html
    assert "&#34;&gt;&lt;img src=x onerror=&#34;window.pwned=1&#34;&gt;.jpg" in html
    assert "&lt;script&gt;window.pwned=1&lt;" in html
