"""At-least-once delivery, raced for real: several workers, each a thread with
its own database connection, deliver to Zappa's task router at the same moment.

Runs on PostgreSQL only (skipped when DATABASE_URL is not PostgreSQL): SQLite
serialises writers, so nothing would race. CI runs the suite on both.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from zappa.asynchronous import route_lambda_task

from transcripts.keys import audio_key, transcript_key
from transcripts.models import COMPLETED, Transcript
from workers import events

from .aws_helpers import BUCKET, lambda_context, s3_event
from .conftest import fixture_path

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("races need PostgreSQL (DATABASE_URL=postgres://…); SQLite serialises writers")


def race(*calls) -> list:
    """Run the calls at once, each in its own thread and database connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # surfaced by the assertions
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def task_payload(transcript_id) -> dict:
    return {
        "task_path": "transcripts.pipeline.run.transcribe",
        "capture_response": False,
        "response_id": None,
        "args": [str(transcript_id)],
        "kwargs": {},
        "command": "zappa.asynchronous.route_lambda_task",
    }


def test_two_workers_racing_for_one_row_transcribe_it_once(alice, s3, counted_engine):
    tid = uuid.uuid4()
    key = audio_key(tid, "talk.mp3")
    s3.put_object(Bucket=BUCKET, Key=key, Body=fixture_path("speech.mp3").read_bytes())
    # bulk_create sends no post_save, so only the racing workers run the task.
    Transcript.objects.bulk_create([Transcript(id=tid, owner=alice, title="t", status="queued", audio=key)])

    outcomes = race(*[lambda: route_lambda_task(task_payload(tid), lambda_context())] * 2)
    assert sorted(outcomes) == ["completed", "skipped"]
    assert len(counted_engine.calls) == 1


def test_signal_s3_events_and_async_retry_all_racing_end_in_one_transcription(
    alice, s3, async_invokes, counted_engine
):
    tid = uuid.uuid4()
    key = audio_key(tid, "standup.mp3")
    s3.put_object(Bucket=BUCKET, Key=key, Body=fixture_path("speech.mp3").read_bytes())
    Transcript.objects.create(id=tid, owner=alice, title="t", audio=key)  # post_save signal → one invoke
    [signal_invoke] = async_invokes

    outcomes = race(
        lambda: route_lambda_task(signal_invoke, lambda_context()),  # the signal's task
        lambda: route_lambda_task(dict(signal_invoke), lambda_context()),  # Lambda's retry of it
        lambda: events.route(s3_event(key), lambda_context()),  # S3's ObjectCreated
        lambda: events.route(s3_event(key), lambda_context()),  # ...delivered twice
    )
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    later = async_invokes[1:]  # what the S3 events dispatched, if they came before the claim
    outcomes += race(*[lambda p=p: route_lambda_task(p, lambda_context()) for p in later]) if later else []
    assert outcomes.count("completed") == 1
    assert len(counted_engine.calls) == 1
    events.route(s3_event(transcript_key(tid)), lambda_context())
    assert Transcript.objects.get(id=tid).status == COMPLETED


def test_two_deliveries_of_one_drop_racing_create_one_row(alice, s3, async_invokes, counted_engine):
    key = "inbox/alice/all hands.mp3"
    s3.put_object(Bucket=BUCKET, Key=key, Body=fixture_path("speech.mp3").read_bytes())
    outcomes = race(*[lambda: events.route(s3_event(key), lambda_context())] * 3)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert Transcript.objects.count() == 1
    results = race(*[lambda p=p: route_lambda_task(p, lambda_context()) for p in async_invokes])
    assert results.count("completed") == 1 and len(counted_engine.calls) == 1
