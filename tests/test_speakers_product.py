"""Speakers as a user meets them: asked for at upload, coloured on the page, renamed once,
and the new name in search and in every export (read back with the tools users have)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import docx
import pytest
import srt
import webvtt
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.aws_helpers import BUCKET
from tests.conftest import fixture_path, upload_file
from tests.conversation import make_conversation
from transcripts.models import COMPLETED, Transcript

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent

SEGMENTS = [
    {"start": 0.0, "end": 4.2, "text": "Good morning, thank you for joining us.", "speaker": "S1"},
    {"start": 5.0, "end": 9.6, "text": "Thanks for having me.", "speaker": "S2"},
    {"start": 9.6, "end": 11.0, "text": "It is a pleasure.", "speaker": "S2"},
    {"start": 3661.0, "end": 3663.5, "text": "Tell us how it started.", "speaker": "S1"},
]


@pytest.fixture
def interview(alice) -> Transcript:
    return Transcript.objects.create(
        owner=alice,
        title="Interview",
        status=COMPLETED,
        text=" ".join(s["text"] for s in SEGMENTS),
        language="en",
        duration=3663.5,
        segments=SEGMENTS,
        speakers={"S1": "Speaker 1", "S2": "Speaker 2"},
        speakers_asked="auto",
    )


def _rename(client, t, **names):
    return client.post(f"/t/{t.id}/speakers/", names)


def test_the_page_shows_each_speakers_turns_in_their_own_colour(alice_client, interview):
    page = alice_client.get(f"/t/{interview.id}/").content.decode()
    assert page.count('class="segment speaker-1"') == 2
    assert page.count('class="segment speaker-2"') == 2
    assert '<span class="speaker">Speaker 2</span>' in page


def test_a_rename_applies_to_the_page_search_and_every_export(alice_client, interview):
    response = _rename(alice_client, interview, S1="Interviewer", S2="Ada Lovelace")
    assert response.status_code == 302
    interview.refresh_from_db()
    assert interview.speakers == {"S1": "Interviewer", "S2": "Ada Lovelace"}

    page = alice_client.get(f"/t/{interview.id}/").content.decode()
    assert (
        '<span class="speaker">Interviewer</span>' in page and "Speaker 1</span>" in page
    )  # label of the box
    found = alice_client.get("/", {"q": "interviewer"}).content.decode()
    assert "Interview" in found and f"/t/{interview.id}/" in found
    assert f"/t/{interview.id}/" not in alice_client.get("/", {"q": "nobody-by-that-name"}).content.decode()

    txt = alice_client.get(f"/t/{interview.id}/export.txt").content.decode().splitlines()
    assert txt[0] == "Interviewer: Good morning, thank you for joining us."
    assert txt[1] == "Ada Lovelace: Thanks for having me."

    subs = list(srt.parse(alice_client.get(f"/t/{interview.id}/export.srt").content.decode()))
    assert subs[0].content == "Interviewer: Good morning, thank you for joining us."
    assert subs[3].content.startswith("Interviewer: ") and subs[3].start.total_seconds() == 3661.0

    vtt = alice_client.get(f"/t/{interview.id}/export.vtt").content.decode()
    assert "<v Interviewer>Good morning, thank you for joining us." in vtt
    captions = webvtt.from_buffer(io.StringIO(vtt)).captions
    assert [c.voice for c in captions] == ["Interviewer", "Ada Lovelace", "Ada Lovelace", "Interviewer"]

    data = json.loads(alice_client.get(f"/t/{interview.id}/export.json").content)
    assert data["speakers"] == {"S1": "Interviewer", "S2": "Ada Lovelace"}
    assert [s["speaker"] for s in data["segments"]] == ["S1", "S2", "S2", "S1"]

    document = docx.Document(io.BytesIO(alice_client.get(f"/t/{interview.id}/export.docx").content))
    assert "Interviewer: " in [r.text for r in document.paragraphs[2].runs if r.bold]


def test_the_docx_export_is_a_readable_document(alice_client, interview):
    response = alice_client.get(f"/t/{interview.id}/export.docx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert response["Content-Disposition"] == 'attachment; filename="Interview.docx"'
    document = docx.Document(io.BytesIO(response.content))
    texts = [p.text for p in document.paragraphs]
    assert document.paragraphs[0].style.name == "Heading 1" and texts[0] == "Interview"
    assert document.core_properties.title == "Interview"
    assert texts[1] == "Duration: 1:01:03"
    # One paragraph per turn: Speaker 2's two segments read as one.
    assert texts[2:] == [
        "[0:00] Speaker 1: Good morning, thank you for joining us.",
        "[0:05] Speaker 2: Thanks for having me. It is a pleasure.",
        "[1:01:01] Speaker 1: Tell us how it started.",
    ]


def test_a_docx_without_speakers_has_a_timestamped_paragraph_per_segment(alice_client, alice):
    t = Transcript.objects.create(
        owner=alice,
        title="Ünïcödé <notes> & co",
        status=COMPLETED,
        duration=4.0,
        segments=[{"start": 0.0, "end": 2.0, "text": "会议 one"}, {"start": 2.0, "end": 4.0, "text": "two"}],
    )
    document = docx.Document(io.BytesIO(alice_client.get(f"/t/{t.id}/export.docx").content))
    assert [p.text for p in document.paragraphs] == [
        "Ünïcödé <notes> & co",
        "Duration: 0:04",
        "[0:00] 会议 one",
        "[0:02] two",
    ]
    plain = Transcript.objects.create(owner=alice, title="n", status=COMPLETED, text="just words")
    document = docx.Document(io.BytesIO(alice_client.get(f"/t/{plain.id}/export.docx").content))
    assert [p.text for p in document.paragraphs] == ["n", "just words"]


def test_hostile_names_are_escaped_or_refused(alice_client, interview):
    _rename(alice_client, interview, S1="<script>alert(1)</script> & Co")
    page = alice_client.get(f"/t/{interview.id}/").content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page
    vtt = alice_client.get(f"/t/{interview.id}/export.vtt").content.decode()
    assert "<v &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co>Good morning" in vtt

    response = _rename(alice_client, interview, S1="Two\nlines", S2="x" * 61)
    interview.refresh_from_db()
    assert interview.speakers["S1"].startswith("<script>")  # unchanged: the whole rename was refused
    assert interview.speakers["S2"] == "Speaker 2"
    messages = [m.message for m in response.wsgi_request._messages]
    assert any("line breaks" in m for m in messages)


def test_an_empty_name_gives_back_the_default_and_unknown_ids_are_ignored(alice_client, interview):
    _rename(alice_client, interview, S1="Host")
    _rename(alice_client, interview, S1="", S9="Ghost")
    interview.refresh_from_db()
    assert interview.speakers == {"S1": "Speaker 1", "S2": "Speaker 2"}


def test_someone_elses_speakers_answer_404(client, bob, interview):
    client.force_login(bob)
    assert _rename(client, interview, S1="Mallory").status_code == 404
    interview.refresh_from_db()
    assert interview.speakers["S1"] == "Speaker 1"


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"label_speakers": "on", "speaker_count": "two"}, "is not a number of speakers"),
        ({"label_speakers": "on", "speaker_count": "5-2"}, "range must go"),
        ({"speaker_count": "2"}, "Tick this"),
    ],
)
def test_a_bad_speakers_option_is_refused_and_nothing_is_stored(post_upload, alice, fields, error):
    response = post_upload({"audio": upload_file("speech.mp3"), **fields})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Transcript.objects.filter(owner=alice).exists()


@pytest.mark.slow
def test_an_upload_with_speakers_labels_each_turn(post_upload, alice, tmp_path):
    """The whole path: the form's option, the worker, faster-whisper and the diarizer, the stored row."""
    path, _ = make_conversation(tmp_path)
    audio = SimpleUploadedFile("interview.wav", path.read_bytes())
    response = post_upload({"audio": audio, "label_speakers": "on", "speaker_count": "1-3"})
    assert response.status_code == 302
    t = Transcript.objects.get(owner=alice)
    assert t.status == COMPLETED, t.error
    assert t.speakers_asked == "1-3"
    assert t.speakers == {"S1": "Speaker 1", "S2": "Speaker 2"}
    # Whisper cuts this recording at the turns: one segment each, speakers alternating.
    assert [s["speaker"] for s in t.segments] == ["S1", "S2"] * 4
    assert "morning" in t.segments[0]["text"] and "weekend" in t.segments[3]["text"]


def test_the_app_does_not_load_the_speakers_extra_until_speakers_are_asked_for():
    """Lambda has no torch: importing the views, forms and exports must not need it."""
    code = (
        "import sys, django; django.setup(); import transcripts.views, transcripts.exports, workers.events; "
        "print(sorted(m for m in ('torch', 'sklearn', 'resemblyzer', 'librosa') if m in sys.modules))"
    )
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "project.settings"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_a_direct_upload_carries_the_speakers_option(alice_client, alice, s3, counted_engine):
    grant = alice_client.post("/upload/direct/", {"name": "talk.mp3", "size": "25931"}).json()
    s3.put_object(Bucket=BUCKET, Key=grant["key"], Body=fixture_path("speech.mp3").read_bytes())
    refused = alice_client.post(
        "/upload/direct/register/", {"token": grant["token"], "label_speakers": "on", "speaker_count": "9-3"}
    )
    assert refused.status_code == 400 and "range" in refused.json()["error"]
    response = alice_client.post(
        "/upload/direct/register/", {"token": grant["token"], "label_speakers": "on", "speaker_count": "2-3"}
    )
    assert response.status_code == 201
    assert Transcript.objects.get(id=response.json()["id"]).speakers_asked == "2-3"


@pytest.fixture
def without_the_extra(monkeypatch):
    """As on Lambda, where the speakers extra is not installed: importing Resemblyzer fails."""
    from workers.speech import speakers

    monkeypatch.setitem(sys.modules, "resemblyzer", None)
    monkeypatch.setattr(speakers, "_encoder", None)  # forget an encoder an earlier test loaded


def test_without_the_extra_the_form_says_so(post_upload, alice, without_the_extra):
    response = post_upload({"audio": upload_file("speech.mp3"), "label_speakers": "on"})
    assert response.status_code == 400
    assert "Speaker labels are not installed on this server" in response.content.decode()
    assert not Transcript.objects.filter(owner=alice).exists()


def test_without_the_extra_a_worker_fails_with_a_reason_and_keeps_the_audio(alice, without_the_extra):
    from django.core.files import File

    from transcripts.pipeline.run import run

    t = Transcript(owner=alice, title="talk", speakers_asked="auto")
    with open(fixture_path("speech.mp3"), "rb") as f:
        t.audio.save("speech.mp3", File(f), save=True)
    assert run(str(t.id)) == "failed"
    t.refresh_from_db()
    assert t.status == "failed" and "requirements-speakers.txt" in t.error
    assert t.audio.storage.exists(t.audio.name)


def test_the_api_reports_the_names_and_takes_the_option(alice, interview):
    from transcripts.api.models import ApiKey

    _, key = ApiKey.issue(alice, "speakers")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    interview.rename_speakers({"S1": "Interviewer"})
    body = api.get(f"/api/v1/transcripts/{interview.id}/").json()
    assert body["speakers"] == {"S1": "Interviewer", "S2": "Speaker 2"}
    assert [s["speaker"] for s in body["segments"]] == ["S1", "S2", "S2", "S1"]

    created = api.post("/api/v1/transcripts", {"audio": upload_file("speech.mp3"), "speakers": "true"})
    assert created.status_code == 201, created.content
    assert Transcript.objects.get(id=created.json()["id"]).speakers_asked == "auto"


def test_an_upload_with_speakers_through_the_openai_engine_names_them_on_the_page(
    alice_client, alice, post_upload, openai_server
):
    post_upload({"audio": upload_file("speech.mp3"), "label_speakers": "on"})
    t = Transcript.objects.get(owner=alice)
    assert t.status == COMPLETED, t.error
    assert t.model == "gpt-4o-transcribe-diarize"
    assert t.speakers == {"S1": "Speaker 1"} and t.segments[0]["speaker"] == "S1"
    alice_client.post(f"/t/{t.id}/speakers/", {"S1": "Host"})
    page = alice_client.get(f"/t/{t.id}/").content.decode()
    assert 'class="segment speaker-1"' in page and '<span class="speaker">Host</span>' in page
