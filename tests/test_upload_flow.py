from __future__ import annotations

import json

import pytest

from transcripts.models import COMPLETED, Transcript

from .conftest import upload_file


@pytest.mark.django_db(transaction=True)
def test_it_transcribes_an_uploaded_mp3_end_to_end(alice_client, settings):
    response = alice_client.post("/upload/", {"audio": upload_file("speech.mp3"), "title": "Standup"})
    t = Transcript.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/t/{t.id}/"
    assert t.status == COMPLETED, t.error
    words = t.text.lower()
    assert "fox" in words and "lazy" in words and "monday" in words
    assert t.language == "en"
    assert 6.0 < t.duration < 7.0
    assert t.segments[0]["start"] >= 0 and t.segments[-1]["end"] <= t.duration + 0.5
    assert t.audio.name == f"audio/{t.id}/speech.mp3"
    doc = json.loads((settings.MEDIA_ROOT / f"transcripts/{t.id}.json").read_text())
    assert doc["id"] == str(t.id) and doc["source_key"] == t.audio.name
    assert doc["text"] == t.text and doc["segments"][0]["text"]
