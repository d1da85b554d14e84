"""Every bad input ends as a clear message, stores nothing, and leaves no row."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from transcripts.keys import audio_key
from transcripts.models import Transcript

from .conftest import upload_file

pytestmark = pytest.mark.django_db


def _stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not_audio.mp3", "not audio or video we can read"),
        ("truncated.mp3", "truncated"),
        ("truncated.flac", "truncated"),
        ("image.png", "no audio track"),
        ("short.wav", "too short (0.2 s)"),
    ],
)
def test_it_rejects_bad_audio_with_a_clear_message(post_upload, settings, name, message):
    response = post_upload({"audio": upload_file(name)})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Transcript.objects.count() == 0
    assert _stored_files(settings) == []


def test_it_rejects_a_zero_byte_file(post_upload, settings):
    response = post_upload({"audio": SimpleUploadedFile("empty.mp3", b"")})
    assert response.status_code == 400
    # Django's own FileField check fires before ours for a 0-byte file.
    assert "empty" in response.content.decode()
    assert Transcript.objects.count() == 0


def test_it_rejects_an_upload_over_the_limit_without_reading_it(post_upload, settings):
    settings.MAX_UPLOAD_MB = 1
    big = SimpleUploadedFile("big.wav", b"\0" * (3 * 2**20))
    response = post_upload({"audio": big})
    assert response.status_code == 413
    assert "too large (3 MB); the limit is 1 MB" in response.content.decode()
    assert Transcript.objects.count() == 0


def test_it_rejects_a_file_over_the_limit_that_fits_in_the_request_slack(post_upload, settings):
    settings.MAX_UPLOAD_MB = 0
    response = post_upload({"audio": upload_file("speech.mp3")})
    assert response.status_code == 400
    assert "too large" in response.content.decode()


def test_it_rejects_audio_longer_than_the_limit(post_upload, settings):
    settings.MAX_AUDIO_MINUTES = 0.05  # 3 s; the fixture lasts 6.4 s
    response = post_upload({"audio": upload_file("speech.mp3")})
    assert response.status_code == 400
    assert "too long" in response.content.decode()


def test_it_asks_for_a_file_when_none_is_given(alice_client):
    response = alice_client.post("/upload/", {"title": "nothing"})
    assert response.status_code == 400
    assert "Choose an audio file, a text transcript, or both." in response.content.decode()


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("my meeting notes.mp3", "my_meeting_notes.mp3"),
        ("\"quoted\" 'name'.mp3", "quoted_name.mp3"),
        ("réunion équipe 会议.mp3", "réunion_équipe_会议.mp3"),
        ("(1) draft +final.MP3", "1_draft_final.mp3"),
        ("../../etc/passwd.mp3", "passwd.mp3"),
        ("..\\..\\windows.mp3", "windows.mp3"),
        ("x" * 300 + ".mp3", "x" * 116 + ".mp3"),
        ("<script>alert(1)</script>.mp3", "script.mp3"),
    ],
)
def test_odd_file_names_are_stored_safely_under_the_transcripts_folder(post_upload, settings, given, stored):
    response = post_upload({"audio": upload_file("speech.mp3", as_name=given)})
    assert response.status_code == 302
    t = Transcript.objects.get()
    assert t.audio.name == f"audio/{t.id}/{stored}" == audio_key(t.id, given)
    path = (settings.MEDIA_ROOT / t.audio.name).resolve()
    assert path.is_file() and settings.MEDIA_ROOT.resolve() in path.parents
    assert t.status == "completed"


def test_a_hostile_title_is_escaped_on_the_pages(alice_client, post_upload):
    post_upload({"audio": upload_file("speech.mp3", as_name="<img src=x onerror=alert(1)>.mp3")})
    t = Transcript.objects.get()
    t.title = "<script>alert('x')</script>"
    t.save(update_fields=["title"])
    for url in ("/", f"/t/{t.id}/"):
        body = alice_client.get(url).content.decode()
        assert "<script>alert('x')</script>" not in body
        assert "&lt;script&gt;" in body


@pytest.mark.slow
def test_ten_minutes_of_silence_completes_with_an_empty_transcript(alice_client, post_upload, tmp_path):
    import subprocess

    path = tmp_path / "silence.flac"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(path), "trim", "0", "600"], check=True)
    response = post_upload({"audio": SimpleUploadedFile("silence.flac", path.read_bytes())})
    assert response.status_code == 302
    t = Transcript.objects.get()
    assert t.status == "completed", t.error
    assert t.text == "" and t.segments == []
    assert 599 < t.duration < 601
    page = alice_client.get(f"/t/{t.id}/").content.decode()
    assert "No speech was found in this recording." in page


def test_a_file_that_breaks_after_upload_fails_with_a_reason_and_keeps_the_audio(
    alice_client, settings, django_capture_on_commit_callbacks
):
    # The audio is damaged between upload and transcription (disk error, partial S3 write).
    with django_capture_on_commit_callbacks(execute=False):  # stored, but no worker yet
        alice_client.post("/upload/", {"audio": upload_file("speech.flac")})
    t = Transcript.objects.get()
    audio = settings.MEDIA_ROOT / t.audio.name
    audio.write_bytes(audio.read_bytes()[:20000])
    from transcripts.pipeline.run import run

    assert run(str(t.id)) == "failed"
    t.refresh_from_db()
    assert t.status == "failed"
    assert "truncated" in t.error
    assert audio.exists()
    page = alice_client.get(f"/t/{t.id}/").content.decode()
    assert "Transcription failed." in page and "truncated" in page and "Retry" in page
    assert "Traceback" not in page
