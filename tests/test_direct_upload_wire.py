"""Presigned POST and GET over real HTTP, against moto's server on 127.0.0.1.

moto 5.2.5 stores what a presigned POST sends but does not evaluate the policy
(content-length-range, the key, the expiry, `tagging`); test_direct_upload.py
asserts the signed policy itself, which real S3 enforces.
"""

from __future__ import annotations

import pytest
import requests

from transcripts.models import Transcript

from .aws_helpers import BUCKET
from .conftest import fixture_path


@pytest.mark.django_db(transaction=True)
def test_a_browser_style_upload_goes_straight_to_s3_and_plays_back_through_a_presigned_get(
    alice_client, moto_server, counted_engine
):
    audio = fixture_path("speech.mp3").read_bytes()
    grant = alice_client.post("/upload/direct/", {"name": "Q3 review.mp3", "size": str(len(audio))}).json()
    assert grant["url"].startswith("http://127.0.0.1:")

    # What direct_upload.js does: the signed fields, then the file, as multipart/form-data.
    sent = requests.post(
        grant["url"], data=grant["fields"], files={"file": ("Q3 review.mp3", audio)}, timeout=10
    )
    assert sent.status_code == 204, sent.text
    stored = moto_server.get_object(Bucket=BUCKET, Key=grant["key"])["Body"].read()
    assert stored == audio

    registered = alice_client.post("/upload/direct/register/", {"token": grant["token"]})
    assert registered.status_code == 201
    t = Transcript.objects.get(id=registered.json()["id"])
    assert t.audio.name == grant["key"] and len(counted_engine.calls) == 1

    # Playback: the audio view redirects to a short-lived presigned GET; the object stays private.
    redirect = alice_client.get(f"/t/{t.id}/audio/")
    assert redirect.status_code == 302
    url = redirect["Location"]
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=600" in url
    assert requests.get(url, timeout=10).content == audio
    unsigned = url.split("?")[0]
    assert requests.get(unsigned, timeout=10).status_code == 403


@pytest.mark.django_db
def test_someone_elses_audio_answers_404(alice_client, bob, moto_server):
    t = Transcript.objects.create(owner=bob, title="b", audio=f"audio/{'0' * 8}/b.mp3")
    assert alice_client.get(f"/t/{t.id}/audio/").status_code == 404
