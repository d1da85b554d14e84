"""The OpenAI-compatible endpoint on Lambda, through Zappa's own handler: past API
Gateway's limits it answers in OpenAI's error shape and points to the REST API."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

from transcripts.api.models import ApiKey
from transcripts.models import Transcript

from .aws_helpers import ROOT, api_event, invoke
from .conftest import fixture_path

BOUNDARY = "----meetingnoter"


def multipart_event(key: str, audio: bytes, name: str = "speech.mp3") -> dict:
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: audio/mpeg\r\n\r\n"
        ).encode()
        + audio
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(len(body)),
    }
    event = api_event("POST", "/v1/audio/transcriptions", cookies={}, headers=headers)
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def openai_error(response: dict) -> dict:
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["x-should-retry"] == "false"
    error = json.loads(response["body"])["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_on_lambda_the_limits_default_below_api_gateways():
    code = "from django.conf import settings; print(settings.OPENAI_COMPAT_MAX_MB, settings.OPENAI_COMPAT_WAIT_SECONDS)"
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "meeting-noter-dev", "SECRET_KEY": "x"}
    env["DJANGO_SETTINGS_MODULE"] = "project.settings"
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    # Lambda takes at most 6 MB of (base64) request; API Gateway waits 29 s.
    assert out.stdout.split() == ["4.0", "25.0"], out.stderr


@pytest.mark.django_db(transaction=True)
def test_a_body_over_the_limit_is_413_in_openais_shape(zappa_handler, alice, settings):
    settings.OPENAI_COMPAT_MAX_MB = 4
    key = ApiKey.issue(alice)[1]
    response = invoke(zappa_handler, multipart_event(key, b"\0" * (5 * 2**20)))
    assert response["statusCode"] == 413
    error = openai_error(response)
    assert error["code"] == "file_too_large" and "4 MB" in error["message"]
    assert "POST /api/v1/transcripts" in error["message"]
    assert not Transcript.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_result_not_ready_before_api_gateways_cut_is_504_and_goes_on(
    zappa_handler, alice, settings, async_invokes
):
    settings.OPENAI_COMPAT_WAIT_SECONDS = 0.5
    key = ApiKey.issue(alice)[1]
    response = invoke(zappa_handler, multipart_event(key, fixture_path("speech.mp3").read_bytes()))
    assert response["statusCode"] == 504
    error = openai_error(response)
    t = Transcript.objects.get()
    assert error["code"] == "timeout" and str(t.id) in error["message"]
    # The transcription was handed to its own @task: it goes on after the answer.
    assert [p["task_path"] for p in async_invokes] == ["transcripts.pipeline.run.transcribe"]
    assert t.owner == alice and t.source == "api"
