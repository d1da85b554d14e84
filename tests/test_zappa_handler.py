"""Zappa's own `LambdaHandler`, loaded from `zappa save-python-settings-file dev`,
driven with API Gateway requests, S3 events, async task invokes and the schedule,
shaped the way AWS shapes them."""

from __future__ import annotations

import json
import uuid

import pytest
from django.middleware.csrf import _get_new_csrf_string

from transcripts import arrivals, engines, models
from transcripts import storage as store
from transcripts.keys import audio_key, transcript_key
from transcripts.models import COMPLETED, QUEUED, UPLOADED, Transcript
from workers.speech.engines import EngineError, TransientError

from .aws_helpers import (
    ACCOUNT,
    API_HOST,
    BUCKET,
    FUNCTION,
    REGION,
    api_event,
    deliver_all,
    invoke,
    s3_event,
    s3_test_event,
)
from .conftest import CountedEngine, fixture_path


def _signed_in(client, user) -> dict[str, str]:
    client.force_login(user)
    token = _get_new_csrf_string()
    return {"sessionid": client.cookies["sessionid"].value, "csrftoken": token}


def _post(handler, path: str, cookies: dict, form: dict) -> dict:
    headers = {"X-CSRFToken": cookies["csrftoken"], "Origin": f"https://{API_HOST}"}
    return invoke(handler, api_event("POST", path, cookies=cookies, form=form, headers=headers))


def _uploaded_row(owner, s3_client, status=UPLOADED) -> Transcript:
    tid = uuid.uuid4()
    t = Transcript.objects.create(
        id=tid, owner=owner, title="Standup", status=status, audio=audio_key(tid, "standup.mp3")
    )
    s3_client.put_object(Bucket=BUCKET, Key=t.audio.name, Body=fixture_path("speech.mp3").read_bytes())
    return t


# Requests through the handler run Django's request signals, which close the
# connection a non-transactional test holds its transaction on.
@pytest.mark.django_db(transaction=True)
def test_a_signed_in_page_through_api_gateway(zappa_handler, client, alice):
    response = invoke(zappa_handler, api_event("GET", "/", cookies=_signed_in(client, alice)))
    assert response["statusCode"] == 200, response
    assert "Sign out alice" in response["body"]
    # The stage prefix reaches every URL Django builds, static files included.
    assert 'href="/dev/upload/"' in response["body"]
    assert 'href="/dev/static/transcripts/style.css"' in response["body"]
    css = invoke(zappa_handler, api_event("GET", "/static/transcripts/style.css", cookies={}))
    assert css["statusCode"] == 200 and css["headers"]["Content-Type"].startswith("text/css")
    # Secrets came from the stage's remote_env file, not from zappa_settings.json.
    assert zappa_handler.loaded_env == {
        "SECRET_KEY": "from-remote-env",
        "TRANSCRIPTS_BUCKET": BUCKET,
        "AWS_REGION": REGION,
    }


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_request_is_sent_to_the_login_page_under_the_stage(zappa_handler):
    response = invoke(zappa_handler, api_event("GET", "/", cookies={}))
    assert response["statusCode"] == 302
    assert response["headers"]["Location"] == "/dev/accounts/login/?next=/dev/"


@pytest.mark.django_db(transaction=True)
def test_a_direct_upload_registered_through_api_gateway_is_transcribed_once(
    zappa_handler, client, alice, s3, async_invokes, counted_engine
):
    cookies = _signed_in(client, alice)
    start = _post(
        zappa_handler, "/upload/direct/", cookies, {"name": "Team sync (Monday).mp3", "size": "25931"}
    )
    assert start["statusCode"] == 200, start
    grant = json.loads(start["body"])
    # The browser's POST to S3 (over the wire in test_direct_upload_wire.py).
    s3.put_object(Bucket=BUCKET, Key=grant["key"], Body=fixture_path("speech.mp3").read_bytes())

    registered = _post(
        zappa_handler, "/upload/direct/register/", cookies, {"token": grant["token"], "title": "Sync"}
    )
    assert registered["statusCode"] == 201, registered
    t = Transcript.objects.get(id=json.loads(registered["body"])["id"])
    assert (t.owner, t.title, t.audio.name, t.source) == (alice, "Sync", grant["key"], "web")
    assert len(async_invokes) == 1  # the post_save signal's dispatch, as an async invoke of this function

    # S3's ObjectCreated for the same object arrives too, twice (at-least-once).
    for _ in range(2):
        invoke(zappa_handler, s3_event(grant["key"]))
    assert len(async_invokes) == 3
    assert deliver_all(zappa_handler, async_invokes) == ["completed", "skipped", "skipped"]
    assert len(counted_engine.calls) == 1

    invoke(zappa_handler, s3_event(transcript_key(t.id)))
    t.refresh_from_db()
    assert t.status == COMPLETED and "fox" in t.text.lower()
    assert store.get_tags(t.audio.name)["status"] == "completed"


@pytest.mark.django_db
def test_s3_keys_are_url_decoded_and_every_record_of_an_event_is_handled(zappa_handler, monkeypatch):
    seen = []
    monkeypatch.setattr(arrivals, "audio_arrived", seen.append)
    monkeypatch.setattr(models, "record_result", seen.append)
    tid = uuid.uuid4()
    keys = [
        f"audio/{tid}/my talk (v2).mp3",
        "inbox/bob/Réunion d’équipe — 2026.m4a",
        f"transcripts/{tid}.json",
    ]
    event = s3_event(*keys)
    assert [r["s3"]["object"]["key"] for r in event["Records"]] == [
        f"audio/{tid}/my+talk+%28v2%29.mp3",
        "inbox/bob/R%C3%A9union+d%E2%80%99%C3%A9quipe+%E2%80%94+2026.m4a",
        f"transcripts/{tid}.json",
    ]
    assert invoke(zappa_handler, event) == {"handled": keys}
    assert seen == keys


@pytest.mark.django_db
def test_the_s3_test_event_runs_no_worker(zappa_handler, monkeypatch):
    monkeypatch.setattr(arrivals, "audio_arrived", lambda key: pytest.fail("no worker should run"))
    assert invoke(zappa_handler, s3_test_event()) is None  # no Records: Zappa routes it nowhere


@pytest.mark.django_db(transaction=True)
def test_duplicate_events_and_duplicate_task_invokes_transcribe_once(
    zappa_handler, alice, s3, s3_calls, async_invokes, counted_engine
):
    t = _uploaded_row(alice, s3)
    s3_calls.clear()
    for _ in range(2):
        invoke(zappa_handler, s3_event(t.audio.name))
    payloads = [p for p in async_invokes for _ in range(2)]  # Lambda may deliver each invoke twice
    async_invokes.clear()
    # The post_save signal and both S3 events each dispatched once.
    assert sorted(deliver_all(zappa_handler, payloads)) == ["completed"] + ["skipped"] * 5
    assert len(counted_engine.calls) == 1
    assert [k for op, k in s3_calls if op == "PutObject"] == [transcript_key(t.id)]


@pytest.mark.django_db(transaction=True)
def test_a_transient_engine_error_is_retried_by_lambda_and_then_completes(
    zappa_handler, alice, s3, async_invokes, monkeypatch
):
    calls = []

    class RateLimitedOnce(CountedEngine):
        """The real engine behind a service that throttles the first call (as the API can)."""

        def transcribe(self, path, options, progress=None, **kwargs):
            calls.append(path)
            if len(calls) == 1:
                raise EngineError("rate limited", transient=True)
            return super().transcribe(path, options, progress, **kwargs)

    monkeypatch.setitem(engines._engines, "local", RateLimitedOnce(engines.get_engine("local")))
    t = _uploaded_row(alice, s3, status=QUEUED)
    payload = {
        "task_path": "transcripts.pipeline.run.transcribe",
        "capture_response": False,
        "response_id": None,
    }
    payload |= {"args": [str(t.id)], "kwargs": {}, "command": "zappa.asynchronous.route_lambda_task"}

    # The exception handler re-raises it, so Lambda's async retry runs the same payload again.
    with pytest.raises(TransientError):
        invoke(zappa_handler, dict(payload))
    t.refresh_from_db()
    assert t.status == QUEUED
    assert invoke(zappa_handler, dict(payload)) == "completed"
    assert invoke(zappa_handler, dict(payload)) == "skipped"  # a late duplicate
    assert len(calls) == 2


@pytest.mark.django_db
def test_a_permanent_failure_is_not_retried(zappa_handler, alice, s3):
    t = _uploaded_row(alice, s3, status=QUEUED)
    # transcripts/<id>.json named in the event is not there: retrying cannot help.
    assert invoke(zappa_handler, s3_event(transcript_key(t.id))) is None


@pytest.mark.django_db
def test_bad_audio_ends_failed_without_a_retry(zappa_handler, alice, s3, async_invokes):
    t = _uploaded_row(alice, s3, status=QUEUED)
    s3.put_object(Bucket=BUCKET, Key=t.audio.name, Body=fixture_path("not_audio.mp3").read_bytes())
    payload = {"task_path": "transcripts.pipeline.run.transcribe", "args": [str(t.id)], "kwargs": {}}
    payload |= {
        "command": "zappa.asynchronous.route_lambda_task",
        "capture_response": False,
        "response_id": None,
    }
    assert invoke(zappa_handler, payload) == "failed"
    t.refresh_from_db()
    assert t.status == "failed" and "not audio" in t.error
    assert store.get_tags(t.audio.name)["status"] == "failed"


@pytest.mark.django_db
def test_the_schedule_recovers_stale_rows(zappa_handler, alice, s3, async_invokes):
    stale = Transcript.objects.create(owner=alice, title="t", status=QUEUED, audio="audio/x/a.mp3")
    rule = f"{FUNCTION}-workers.sweeper.recover_stale"
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-23T21:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }
    assert invoke(zappa_handler, event) == {"recovered": [str(stale.id)]}
    assert [p["args"] for p in async_invokes] == [[str(stale.id)]]


@pytest.mark.django_db
def test_zappa_manage_runs_management_commands(zappa_handler, capsys):
    assert invoke(zappa_handler, {"manage": "check --deploy --fail-level CRITICAL"}) == {}
