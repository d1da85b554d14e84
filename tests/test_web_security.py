"""Hostile uploads and bodies: audio is served as what it is, pages carry a
Content-Security-Policy, an oversized body is refused unread, and audio that
vanished from storage answers 404."""

from __future__ import annotations

import io
import struct
import sys
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from transcripts.models import Transcript

from . import aws_helpers
from .conftest import fixture_path

pytestmark = pytest.mark.django_db

SCRIPT = b"<script>window.pwned = 1; document.title = 'pwned'</script>"


def _syncsafe(n: int) -> bytes:
    return bytes((n >> shift) & 0x7F for shift in (21, 14, 7, 0))


def evil_mp3() -> bytes:
    """speech.mp3 with its ID3 tag replaced by one whose title is an HTML script:
    still a valid mp3, which an HTML parser would run if it were served as HTML."""
    audio = fixture_path("speech.mp3").read_bytes()
    assert audio[:3] == b"ID3"
    frames = audio[10 + sum(b << (7 * (3 - i)) for i, b in enumerate(audio[6:10])) :]
    text = b"\x00" + b"<html><body>" + SCRIPT + b"</body></html>"
    frame = b"TIT2" + struct.pack(">I", len(text)) + b"\x00\x00" + text
    return b"ID3\x03\x00\x00" + _syncsafe(len(frame)) + frame + frames


@pytest.fixture
def evil(alice_client) -> Transcript:
    """Uploaded through the form as evil.html; its transcription is never dispatched here."""
    response = alice_client.post(
        "/upload/", {"audio": SimpleUploadedFile("evil.html", evil_mp3(), "text/html")}
    )
    assert response.status_code == 302, response.content.decode()[:500]
    t = Transcript.objects.get()
    assert t.audio.name.endswith("evil.html")
    return t


def test_a_valid_mp3_named_evil_html_is_served_as_audio_mpeg(alice_client, evil):
    for headers in ({}, {"HTTP_RANGE": "bytes=0-"}, {"HTTP_RANGE": "bytes=10-99"}):
        response = alice_client.get(f"/t/{evil.id}/audio/", **headers)
        assert response.status_code in (200, 206)
        assert response["Content-Type"] == "audio/mpeg"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in response["Content-Security-Policy"]
    body = b"".join(alice_client.get(f"/t/{evil.id}/audio/").streaming_content)
    assert SCRIPT in body  # the file itself is kept as uploaded


def test_every_page_forbids_inline_and_foreign_scripts(client, alice_client):
    for c, url in ((client, "/accounts/login/"), (client, "/accounts/signup/"), (alice_client, "/upload/")):
        policy = c.get(url)["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
        assert "unsafe-inline" not in policy


def test_missing_audio_answers_404_not_500(alice_client, evil, settings):
    (settings.MEDIA_ROOT / evil.audio.name).unlink()
    for headers in ({}, {"HTTP_RANGE": "bytes=0-"}):
        response = alice_client.get(f"/t/{evil.id}/audio/", **headers)
        assert response.status_code == 404
    assert alice_client.get(f"/t/{evil.id}/").status_code == 200  # the page itself still opens


class CountingInput(io.RawIOBase):
    """A request body of `size` zero bytes that counts what the server reads of it."""

    def __init__(self, size: int):
        self.left, self.read_bytes = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = b"\0" * n
        self.left -= n
        self.read_bytes += n
        return n


def _post_wsgi(
    client, path: str, length: int, content_type: str = "multipart/form-data; boundary=xyz"
) -> tuple[int, int, bytes]:
    """POST `length` declared bytes straight into the WSGI application, with the
    signed-in client's session cookie and no CSRF token; (status, bytes read, body)."""
    body = CountingInput(length)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_ACCEPT": "text/html",
        # A CSRF cookie but no token in the body: CSRF middleware must look in request.POST.
        "HTTP_COOKIE": "; ".join(
            [f"{k}={v.value}" for k, v in client.cookies.items()] + [f"csrftoken={'a' * 32}"]
        ),
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(length),
        "wsgi.input": io.BufferedReader(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
    }
    started = []
    # As Django's test client does: keep the test's database connection open across the request.
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    try:
        chunks = WSGIHandler()(environ, lambda status, headers, exc_info=None: started.append(status))
        content = b"".join(chunks)
        chunks.close()
    finally:
        for signal in signals:
            signal.connect(close_old_connections)
    return int(started[0].split()[0]), body.read_bytes, content


def test_an_oversized_upload_is_refused_by_its_length_before_anything_reads_it(alice_client, settings):
    settings.MAX_UPLOAD_MB = 5
    status, read, content = _post_wsgi(alice_client, "/upload/", 200 * 2**20)
    assert status == 413
    assert read == 0
    assert b"too large (200 MB); the limit is 5 MB" in content
    # The same request within the limit is read (and refused by CSRF): the count is real.
    form = "application/x-www-form-urlencoded"
    status, read, _ = _post_wsgi(alice_client, "/upload/", 4 * 2**20, form)
    assert status == 403 and read > 2**20


def test_an_oversized_body_is_refused_on_any_url_even_signed_out(client, settings):
    settings.MAX_UPLOAD_MB = 5
    status, read, content = _post_wsgi(client, "/accounts/login/", 200 * 2**20)
    assert (status, read) == (413, 0)
    assert b"limit is 5 MB" in content


def test_on_s3_the_stored_type_is_the_probed_one_and_playback_is_an_attachment(alice_client, s3):
    response = alice_client.post(
        "/upload/", {"audio": SimpleUploadedFile("evil.html", evil_mp3(), "text/html")}
    )
    assert response.status_code == 302
    t = Transcript.objects.get()
    assert s3.head_object(Bucket=aws_helpers.BUCKET, Key=t.audio.name)["ContentType"] == "audio/mpeg"
    redirect = alice_client.get(f"/t/{t.id}/audio/")
    assert redirect.status_code == 302 and "response-content-disposition=attachment" in redirect["Location"]
    policy = redirect["Content-Security-Policy"]
    bucket_origin = "{0.scheme}://{0.netloc}".format(urlsplit(redirect["Location"]))
    assert f"media-src 'self' {bucket_origin}" in policy and f"connect-src 'self' {bucket_origin}" in policy
    s3.delete_object(Bucket=aws_helpers.BUCKET, Key=t.audio.name)
    assert alice_client.get(f"/t/{t.id}/audio/").status_code == 404
