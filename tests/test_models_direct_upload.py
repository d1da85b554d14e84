"""Direct (browser → S3) uploads carry the same choices as the form, and the same refusals."""

from __future__ import annotations

import pytest

from transcripts.models import Transcript

from .aws_helpers import BUCKET
from .conftest import fixture_path


def _uploaded(client, s3) -> dict:
    grant = client.post("/upload/direct/", {"name": "talk.mp3", "size": "25931"}).json()
    s3.put_object(Bucket=BUCKET, Key=grant["key"], Body=fixture_path("speech.mp3").read_bytes())
    return grant


@pytest.mark.django_db
def test_a_direct_upload_keeps_translate_and_prompt(settings, alice_client, s3, counted_engine):
    settings.WHISPER_MODEL = "base"
    grant = _uploaded(alice_client, s3)
    response = alice_client.post(
        "/upload/direct/register/",
        {"token": grant["token"], "language": "de", "translate": "on", "prompt": "ComfyUI"},
    )
    assert response.status_code == 201, response.content
    t = Transcript.objects.get(id=response.json()["id"])
    assert (t.language_hint, t.task, t.prompt) == ("de", "translate", "ComfyUI")


@pytest.mark.django_db
def test_a_direct_upload_asking_the_english_model_for_german_is_refused(alice_client, s3, counted_engine):
    grant = _uploaded(alice_client, s3)
    response = alice_client.post("/upload/direct/register/", {"token": grant["token"], "language": "de"})
    assert response.status_code == 400 and "English only" in response.json()["error"]
    assert not Transcript.objects.exists()
