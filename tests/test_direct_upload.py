"""Presigned direct uploads: the views, on moto in-process."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from django.core import signing
from django.test import Client

from transcripts import storage as store
from transcripts.direct_upload import SALT
from transcripts.keys import transcript_key
from transcripts.models import COMPLETED, Transcript
from workers import events

from . import aws_helpers
from .aws_helpers import BUCKET, s3_event
from .conftest import fixture_path, upload_file


def start(client, name="Board meeting (final).mp3", size=25931):
    return client.post("/upload/direct/", {"name": name, "size": str(size)})


def policy_of(grant: dict) -> dict:
    return json.loads(base64.b64decode(grant["fields"]["policy"]))


@pytest.mark.django_db
def test_the_server_fixes_the_key_caps_the_size_and_keeps_the_grant_short(alice_client, s3, settings):
    settings.MAX_UPLOAD_MB = 20
    before = time.time()
    response = start(alice_client)
    assert response.status_code == 200
    grant = response.json()
    transcript_id = grant["key"].split("/")[1]
    assert grant["key"] == f"audio/{transcript_id}/Board_meeting_final.mp3"
    assert grant["fields"]["key"] == grant["key"]
    policy = policy_of(grant)
    conditions = policy["conditions"]
    assert ["content-length-range", 1, 20 * 2**20] in conditions
    assert {"key": grant["key"]} in conditions and {"bucket": BUCKET} in conditions
    tagging = f"<Tagging><TagSet><Tag><Key>transcript-id</Key><Value>{transcript_id}</Value></Tag></TagSet></Tagging>"
    assert {"tagging": tagging} in conditions and grant["fields"]["tagging"] == tagging
    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert (
        before + settings.PRESIGNED_UPLOAD_SECONDS - 5
        <= expires
        <= time.time() + settings.PRESIGNED_UPLOAD_SECONDS + 1
    )
    assert signing.loads(grant["token"], salt=SALT)["key"] == grant["key"]


@pytest.mark.django_db
def test_a_file_above_the_limit_is_refused_before_any_upload(alice_client, s3, settings):
    settings.MAX_UPLOAD_MB = 1
    response = start(alice_client, size=2 * 2**20)
    assert response.status_code == 413 and "limit is 1 MB" in response.json()["error"]


@pytest.mark.django_db
def test_registering_creates_the_row_tags_the_object_and_dispatches(
    alice_client, alice, s3, counted_engine, django_capture_on_commit_callbacks
):
    grant = start(alice_client).json()
    s3.put_object(Bucket=BUCKET, Key=grant["key"], Body=fixture_path("speech.mp3").read_bytes())
    with django_capture_on_commit_callbacks() as after_commit:
        with_commit = alice_client.post(
            "/upload/direct/register/", {"token": grant["token"], "language": "en", "word_timestamps": "on"}
        )
    assert with_commit.status_code == 201
    t = Transcript.objects.get(id=with_commit.json()["id"])
    assert (t.owner, t.title, t.audio.name, t.size_bytes) == (
        alice,
        "Board meeting (final)",
        grant["key"],
        25931,
    )
    assert (t.language_hint, t.word_timestamps, t.source) == ("en", True, "web")
    assert with_commit.json()["url"] == f"/t/{t.id}/"
    assert store.get_tags(grant["key"]) == {"transcript-id": str(t.id)}
    # The dispatch waits for the commit; then the (inline) runner transcribes it.
    assert len(after_commit) == 1 and counted_engine.calls == []
    after_commit[0]()
    assert len(counted_engine.calls) == 1
    # On S3 the result document's own ObjectCreated event completes the row.
    events.route(s3_event(transcript_key(t.id)), None)
    t.refresh_from_db()
    assert t.status == COMPLETED and "fox" in t.text.lower()
    # A second click on the same upload answers with the same transcript.
    again = alice_client.post("/upload/direct/register/", {"token": grant["token"]})
    assert again.status_code == 200 and again.json()["id"] == str(t.id)
    assert Transcript.objects.count() == 1 and len(counted_engine.calls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_registered_upload_is_dispatched_after_commit(alice_client, s3, counted_engine):
    grant = start(alice_client).json()
    s3.put_object(Bucket=BUCKET, Key=grant["key"], Body=fixture_path("speech.mp3").read_bytes())
    alice_client.post("/upload/direct/register/", {"token": grant["token"]})
    assert len(counted_engine.calls) == 1  # the inline runner ran the task


@pytest.mark.django_db
def test_registering_before_the_file_arrived_is_refused(alice_client, s3):
    grant = start(alice_client).json()
    response = alice_client.post("/upload/direct/register/", {"token": grant["token"]})
    assert response.status_code == 400 and "did not reach storage" in response.json()["error"]
    assert not Transcript.objects.exists()


@pytest.mark.django_db
def test_someone_elses_upload_cannot_be_registered(alice_client, bob, s3):
    bobs = Client()
    bobs.force_login(bob)
    grant = start(bobs).json()
    s3.put_object(Bucket=BUCKET, Key=grant["key"], Body=b"x")
    response = alice_client.post("/upload/direct/register/", {"token": grant["token"]})
    assert response.status_code == 403
    assert not Transcript.objects.exists()


@pytest.mark.django_db
def test_a_forged_token_is_refused(alice_client, alice, s3):
    forged = signing.dumps(
        {"id": "x", "key": "audio/x/y.mp3", "user": alice.pk, "name": "y.mp3"}, salt="other"
    )
    response = alice_client.post("/upload/direct/register/", {"token": forged})
    assert response.status_code == 400 and "not issued by this site" in response.json()["error"]


@pytest.mark.django_db
def test_direct_uploads_need_sign_in_post_and_s3(alice_client, settings):
    assert Client().post("/upload/direct/", {"name": "a.mp3"}).status_code == 302
    assert alice_client.get("/upload/direct/").status_code == 405
    assert start(alice_client).status_code == 404  # local storage: the normal form does it all


@pytest.mark.django_db
def test_the_upload_page_loads_the_direct_upload_script_only_on_s3(alice_client, settings):
    page = alice_client.get("/upload/").content.decode()
    assert "direct_upload.js" not in page
    aws_helpers.use_s3_storage(settings)
    page = alice_client.get("/upload/").content.decode()
    assert "transcripts/direct_upload.js" in page
    assert (
        'data-start-url="/upload/direct/"' in page and 'data-register-url="/upload/direct/register/"' in page
    )


@pytest.mark.django_db(transaction=True)
def test_the_form_upload_still_works_on_s3_for_small_files(alice_client, s3, counted_engine):
    response = alice_client.post("/upload/", {"audio": upload_file("speech.mp3"), "title": "Standup"})
    t = Transcript.objects.get()
    assert response.status_code == 302
    body = s3.get_object(Bucket=BUCKET, Key=t.audio.name)["Body"].read()
    assert t.audio.name == f"audio/{t.id}/speech.mp3" and body == fixture_path("speech.mp3").read_bytes()
    assert len(counted_engine.calls) == 1
