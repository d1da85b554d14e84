"""Exports are parsed back with the same libraries a user's tools would use."""

from __future__ import annotations

import io
import json

import pytest
import srt
import webvtt

from transcripts.models import COMPLETED, UPLOADED, Transcript

pytestmark = pytest.mark.django_db

SEGMENTS = [
    {"start": 0.0, "end": 2.5, "text": "Hello, everyone."},
    {"start": 2.5, "end": 3661.25, "text": "Arrows --> and <tags> & ampersands survive."},
    {"start": 3661.25, "end": 3662.0, "text": "  "},
    {"start": 3662.0, "end": 3663.0, "text": "Ünïcödé 会议"},
]


@pytest.fixture
def done(alice) -> Transcript:
    return Transcript.objects.create(
        owner=alice,
        title='Team / sync: "Q3"',
        status=COMPLETED,
        text="Hello, everyone. Arrows --> and <tags> & ampersands survive. Ünïcödé 会议",
        language="en",
        duration=3663.0,
        segments=SEGMENTS,
    )


def test_srt_is_numbered_from_one_and_parses_back(alice_client, done):
    response = alice_client.get(f"/t/{done.id}/export.srt")
    assert response["Content-Disposition"] == 'attachment; filename="Team_sync_Q3.srt"'
    subs = list(srt.parse(response.content.decode()))
    assert [s.index for s in subs] == [1, 2, 3]
    assert subs[1].start.total_seconds() == 2.5 and subs[1].end.total_seconds() == 3661.25
    assert subs[1].content == "Arrows --> and <tags> & ampersands survive."
    assert subs[2].content == "Ünïcödé 会议"


def test_vtt_parses_back_with_hour_timestamps(alice_client, done):
    body = alice_client.get(f"/t/{done.id}/export.vtt").content.decode()
    assert body.startswith("WEBVTT")
    captions = webvtt.from_buffer(io.StringIO(body)).captions
    assert [c.start for c in captions] == ["00:00:00.000", "00:00:02.500", "01:01:02.000"]
    assert captions[1].end == "01:01:01.250"
    assert "-->" not in captions[1].text and "ampersands survive" in captions[1].text


def test_txt_has_one_line_per_segment(alice_client, done):
    response = alice_client.get(f"/t/{done.id}/export.txt")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode().splitlines() == [
        "Hello, everyone.",
        "Arrows --> and <tags> & ampersands survive.",
        "Ünïcödé 会议",
    ]


def test_json_has_text_language_duration_and_segments(alice_client, done):
    data = json.loads(alice_client.get(f"/t/{done.id}/export.json").content)
    assert data["text"] == done.text and data["language"] == "en" and data["duration"] == 3663.0
    assert data["segments"][1] == {
        "start": 2.5,
        "end": 3661.25,
        "text": SEGMENTS[1]["text"],
        "language": "en",
    }


def test_an_unfinished_transcript_or_unknown_format_is_not_exported(alice_client, alice, done):
    pending = Transcript.objects.create(owner=alice, title="wip", status=UPLOADED)
    assert alice_client.get(f"/t/{pending.id}/export.txt").status_code == 404
    assert alice_client.get(f"/t/{done.id}/export.docx").status_code == 404


def test_a_plain_text_transcript_exports_its_text(alice_client, alice):
    t = Transcript.objects.create(
        owner=alice, title="notes", status=COMPLETED, text="just words", segments=[]
    )
    assert alice_client.get(f"/t/{t.id}/export.txt").content.decode() == "just words\n"
    assert alice_client.get(f"/t/{t.id}/export.srt").content.decode() == ""
