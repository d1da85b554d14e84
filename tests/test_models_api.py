"""The REST API carries the upload page's language, task and prompt, with the same refusals."""

from __future__ import annotations

import pytest

from transcripts.models import Transcript

from .conftest import upload_file
from .test_api_rest import api_client


@pytest.mark.django_db
def test_an_api_upload_keeps_language_task_and_prompt(settings, alice):
    settings.WHISPER_MODEL = "base"  # multilingual: German and translation are offered
    response = api_client(alice).post(
        "/api/v1/transcripts",
        {"audio": upload_file("speech.mp3"), "language": "de", "task": "translate", "prompt": "ComfyUI"},
    )
    assert response.status_code == 201, response.content
    t = Transcript.objects.get(id=response.json()["id"])
    assert (t.language_hint, t.task, t.prompt) == ("de", "translate", "ComfyUI")
    options = t.transcribe_options()
    assert (options.language, options.task, options.prompt) == ("de", "translate", "ComfyUI")


@pytest.mark.django_db
def test_an_api_prompt_too_long_for_the_model_is_refused(settings, alice):
    response = api_client(alice).post(
        "/api/v1/transcripts", {"audio": upload_file("speech.mp3"), "prompt": "word " * 200}
    )
    assert response.status_code == 400
    assert "prompt" in response.json()["error"]["fields"]
    assert not Transcript.objects.exists()
