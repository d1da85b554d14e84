"""On S3 storage the browser sends large audio straight to the bucket: the real
direct_upload.js in Chromium, posting to moto's S3 server over HTTP."""

from __future__ import annotations

import time

import pytest

from transcripts.keys import transcript_key
from transcripts.models import COMPLETED, Transcript
from workers.events import route

from .aws_helpers import BUCKET, s3_event
from .test_browser import _sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _wait_for_object(s3, key: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{key} never appeared")


def test_large_audio_goes_browser_to_s3_and_is_transcribed(page, moto_server, settings):  # noqa: F811
    settings.DIRECT_UPLOAD_MIN_BYTES = 1000  # the fixture counts as "large"
    _sign_up(page, "dora")
    page.get_by_role("link", name="Upload", exact=True).click()
    page.set_input_files("#id_audio", "tests/fixtures/speech.mp3")
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.get_by_role("button", name="Upload and transcribe").click()
    page.wait_for_url("**/t/*/", timeout=30_000)

    t = Transcript.objects.get()
    assert t.audio.name.startswith(f"audio/{t.id}/") and t.audio.name.endswith("speech.mp3")
    # The file went to the bucket's endpoint, never through the app's upload form.
    assert any(url.startswith(settings.AWS_S3_ENDPOINT_URL) for url in posts)
    assert not any(url.endswith("/upload/") for url in posts)
    tags = moto_server.get_object_tagging(Bucket=BUCKET, Key=t.audio.name)["TagSet"]
    assert {"Key": "transcript-id", "Value": str(t.id)} in tags

    # The worker writes the result; S3 would now notify the router, as we do here.
    _wait_for_object(moto_server, transcript_key(t.id))
    route(s3_event(transcript_key(t.id)), None)
    t.refresh_from_db()
    assert t.status == COMPLETED and "fox" in t.text.lower()
    page.wait_for_selector(".segment", timeout=30_000)  # the page noticed by itself
    assert "fox" in page.inner_text("#segments").lower()
