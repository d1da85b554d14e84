"""Text transcripts: imported alone, or kept as the reference for the error rate."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from transcripts.models import COMPLETED, Transcript

from .conftest import upload_file

pytestmark = pytest.mark.django_db

SRT = "1\n00:00:01,000 --> 00:00:02,500\nHello there.\n\n2\n00:00:03,000 --> 00:00:04,000\nGeneral Kenobi.\n"
VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello there.\n\n01:00:03.000 --> 01:00:04.000\nGeneral Kenobi.\n"


@pytest.mark.parametrize(
    ("name", "body", "segments"),
    [
        ("talk.srt", SRT, [(1.0, 2.5, "Hello there."), (3.0, 4.0, "General Kenobi.")]),
        ("talk.vtt", VTT, [(1.0, 2.5, "Hello there."), (3603.0, 3604.0, "General Kenobi.")]),
        ("talk.txt", "Hello there.\nGeneral Kenobi.\n", []),
    ],
)
def test_a_text_transcript_alone_is_imported_as_completed(post_upload, alice_client, name, body, segments):
    response = post_upload({"transcript": SimpleUploadedFile(name, body.encode())})
    assert response.status_code == 302
    t = Transcript.objects.get()
    assert t.status == COMPLETED and t.source == "import" and not t.audio
    assert t.text == "Hello there. General Kenobi."
    assert [(s["start"], s["end"], s["text"]) for s in t.segments] == segments
    assert t.timestamps is bool(segments)
    page = alice_client.get(f"/t/{t.id}/").content.decode()
    assert "General Kenobi." in page and "<audio" not in page


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.srt", b"  \n\n ", "empty"),
        ("binary.txt", b"\x00\x01\x02PK", "not text"),
        ("latin1.txt", "caf\xe9 na\xefve".encode("latin-1") + b"\xff\xfe\xfa", "not UTF-8"),
        (
            "broken.srt",
            b"1\n00:00:01,000 --> nonsense\nHi\n",
            "Cue 1 (line 1): its timing line is not two times",
        ),
        ("notes.docx", b"PK\x03\x04", ".txt, .srt or .vtt"),
    ],
)
def test_a_bad_text_transcript_is_refused_with_a_reason(post_upload, name, body, message):
    response = post_upload({"transcript": SimpleUploadedFile(name, body)})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Transcript.objects.exists()


def test_with_audio_the_text_is_the_reference_and_the_page_shows_the_word_error_rate(
    post_upload, alice_client
):
    response = post_upload({"audio": upload_file("speech.mp3"), "transcript": upload_file("speech.txt")})
    assert response.status_code == 302
    t = Transcript.objects.get()
    assert t.status == COMPLETED and t.reference_text.startswith("The quick brown fox")
    assert 0 <= t.word_error_rate < 0.75  # tiny.en mishears some of espeak's robot voice
    page = alice_client.get(f"/t/{t.id}/").content.decode()
    assert "Word error rate against your reference transcript" in page
    assert f"{round(t.word_error_rate * 100)}%" in page


def test_word_error_rate_ignores_case_and_punctuation():
    from transcripts.wer import word_error_rate

    assert word_error_rate("Hello, World!", "hello world") == 0.0
    assert word_error_rate("one two three four", "one too three") == 0.5
    assert word_error_rate("", "anything") is None
    assert word_error_rate("some words", "") == 1.0
