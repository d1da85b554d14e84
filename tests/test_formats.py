"""Every accepted container and codec is recognised by decoding, whatever its name."""

from __future__ import annotations

import pytest

from transcripts.models import Transcript

from .conftest import upload_file

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["speech.m4a", "speech.ogg", "speech.webm", "speech.flac", "video.mp4"])
def test_it_transcribes_each_supported_format(post_upload, name):
    response = post_upload({"audio": upload_file(name)})
    assert response.status_code == 302
    t = Transcript.objects.get()
    assert t.status == "completed", t.error
    assert "fox" in t.text.lower()


def test_the_extension_does_not_decide_the_format(post_upload):
    response = post_upload({"audio": upload_file("speech.flac", as_name="recording.txt")})
    assert response.status_code == 302
    assert "fox" in Transcript.objects.get().text.lower()


def test_a_language_hint_is_passed_and_recorded(post_upload):
    post_upload({"audio": upload_file("speech.mp3"), "language": "en"})
    t = Transcript.objects.get()
    assert t.language_hint == "en" and t.language == "en"


def test_an_unknown_language_is_refused(post_upload):
    response = post_upload({"audio": upload_file("speech.mp3"), "language": "xx"})
    assert response.status_code == 400
    assert "understands English only" in response.content.decode()  # the model's languages decide


def test_word_timestamps_are_stored_when_asked(post_upload):
    post_upload({"audio": upload_file("speech.mp3"), "word_timestamps": "on"})
    t = Transcript.objects.get()
    words = [w for s in t.segments for w in s["words"]]
    assert any("fox" in w["word"].lower() for w in words)
    assert all(0 <= w["start"] <= w["end"] <= t.duration + 0.01 for w in words)
