"""The S3 event workers as plain functions, on moto in-process."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError
from django.db import OperationalError

from transcripts import arrivals, models
from transcripts import storage as store
from transcripts.keys import audio_key, transcript_key
from transcripts.models import COMPLETED, QUEUED, UPLOADED, Transcript, record_result
from workers import errors, events, sweeper
from workers.speech.engines import TransientError

from .aws_helpers import BUCKET, s3_event, s3_test_event
from .conftest import fixture_path


def _row(owner, *, status=UPLOADED, name="talk.mp3", s3_client=None) -> Transcript:
    tid = uuid.uuid4()
    t = Transcript.objects.create(id=tid, owner=owner, title="t", status=status, audio=audio_key(tid, name))
    if s3_client is not None:
        s3_client.put_object(Bucket=BUCKET, Key=t.audio.name, Body=fixture_path("speech.mp3").read_bytes())
    return t


def test_records_url_decode_keys_and_skip_other_events():
    event = s3_event("audio/x/my talk (v2).mp3", "inbox/alice/Réunion d’équipe.mp3")
    event["Records"].append({**event["Records"][0], "eventName": "ObjectRemoved:Delete"})
    assert [k for _, k in events.records(event)] == [
        "audio/x/my talk (v2).mp3",
        "inbox/alice/Réunion d’équipe.mp3",
    ]
    assert event["Records"][0]["s3"]["object"]["key"] == "audio/x/my+talk+%28v2%29.mp3"


def test_route_ignores_the_s3_test_event(monkeypatch):
    monkeypatch.setattr(arrivals, "audio_arrived", lambda key: pytest.fail("no worker should run"))
    assert events.route(s3_test_event(), None) == {"handled": []}  # it has no Records


def test_route_ignores_keys_outside_the_known_prefixes(monkeypatch):
    monkeypatch.setattr(arrivals, "audio_arrived", lambda key: pytest.fail("no worker should run"))
    assert events.route(s3_event("staticfiles/app.js", "audiox/file.mp3"), None) == {"handled": []}


def test_route_runs_every_record_then_reraises_the_transient_failure_first(monkeypatch):
    seen = []

    def worker(key):
        seen.append(key)
        if key.endswith("bad.json"):
            raise ValueError("broken document")
        if key.endswith("slow.json"):
            raise OperationalError("database restarting")

    monkeypatch.setattr(models, "record_result", worker)
    keys = ["transcripts/bad.json", "transcripts/slow.json", "transcripts/good.json"]
    with pytest.raises(OperationalError):
        events.route(s3_event(*keys), None)
    assert seen == keys


def test_route_never_lets_a_type_error_escape(monkeypatch):
    """Zappa answers a TypeError by calling the handler again with fewer arguments."""

    def worker(key):
        raise TypeError("bug inside a worker")

    monkeypatch.setattr(models, "record_result", worker)
    with pytest.raises(RuntimeError, match="bug inside a worker"):
        events.route(s3_event("transcripts/x.json"), None)


@pytest.mark.parametrize(
    "exc, retried",
    [
        (TransientError("engine asked"), True),
        (OperationalError("connection refused"), True),
        (
            ClientError(
                {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject"
            ),
            True,
        ),
        (
            ClientError(
                {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "PutObject"
            ),
            True,
        ),
        (
            ClientError(
                {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetObject"
            ),
            False,
        ),
        (
            ClientError(
                {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject"
            ),
            False,
        ),
        (ValueError("bad event"), False),
        (json.JSONDecodeError("bad", "", 0), False),
    ],
)
def test_the_exception_handler_lets_lambda_retry_only_transient_failures(exc, retried):
    # exception_handler returns True for "handled": Zappa then returns normally and Lambda does not retry.
    assert errors.exception_handler(exc, {"Records": []}, None) is (not retried)


def test_an_upload_event_before_registration_waits_for_the_register_view(s3, alice, monkeypatch):
    monkeypatch.setattr(arrivals, "dispatch", lambda tid: pytest.fail("nothing to dispatch yet"))
    key = audio_key(uuid.uuid4(), "talk.mp3")
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    assert arrivals.audio_arrived(key) == "unregistered"


def test_an_upload_event_tags_and_dispatches_a_waiting_row(s3, alice, monkeypatch):
    dispatched = []
    monkeypatch.setattr(arrivals, "dispatch", dispatched.append)
    t = _row(alice, s3_client=s3)
    assert arrivals.audio_arrived(t.audio.name) == "dispatched"
    assert dispatched == [t.id]
    assert store.get_tags(t.audio.name) == {"transcript-id": str(t.id)}


def test_a_late_duplicate_event_keeps_the_status_tags(s3, alice, monkeypatch):
    monkeypatch.setattr(arrivals, "dispatch", lambda tid: pytest.fail("already done"))
    t = _row(alice, status=COMPLETED, s3_client=s3)
    store.set_tags(t.audio.name, {"transcript-id": str(t.id), "status": "completed", "language": "en"})
    assert arrivals.audio_arrived(t.audio.name) == "skipped"
    assert store.get_tags(t.audio.name)["status"] == "completed"


def test_the_transcript_created_worker_is_idempotent(s3, alice):
    t = _row(alice, status=QUEUED, s3_client=s3)
    doc = {
        "id": str(t.id),
        "source_key": t.audio.name,
        "text": "hello world",
        "language": "en",
        "duration": 6.53,
        "model": "tiny.en",
        "engine": "local",
        "segments": [{"start": 0.0, "end": 6.5, "text": "hello world"}],
        "timings": {"total": 1.2},
    }
    store.put_json(transcript_key(t.id), doc, {"transcript-id": str(t.id), "source-key": t.audio.name})
    for _ in range(2):
        events.route(s3_event(transcript_key(t.id)), None)
    t.refresh_from_db()
    assert (t.status, t.text, t.language, t.duration) == (COMPLETED, "hello world", "en", 6.53)
    assert store.get_tags(t.audio.name) == {
        "transcript-id": str(t.id),
        "status": "completed",
        "transcript-key": transcript_key(t.id),
        "language": "en",
        "duration": "6.5",
    }


@pytest.mark.django_db
def test_a_result_for_a_deleted_transcript_is_ignored(s3):
    assert record_result(transcript_key(uuid.uuid4())) is None


def test_tag_values_keep_only_what_s3_accepts():
    assert store.tag_value("No user named 'bob' (see <docs>)!") == "No user named bob see docs"
    assert len(store.tag_value("x" * 300)) == 256


@pytest.mark.django_db
def test_the_scheduled_sweep_recovers_a_row_whose_worker_vanished(alice, monkeypatch):
    dispatched = []
    monkeypatch.setattr("transcripts.pipeline.dispatch.dispatch", dispatched.append)
    t = Transcript.objects.create(owner=alice, title="t", status=QUEUED, audio="audio/x/a.mp3")
    assert sweeper.recover_stale({"detail-type": "Scheduled Event"}, None) == {"recovered": [str(t.id)]}
    assert dispatched == [str(t.id)]
