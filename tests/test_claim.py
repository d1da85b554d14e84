"""One transcription per upload, however many triggers; stuck rows are recovered."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from transcripts.models import COMPLETED, FAILED, PROCESSING, QUEUED, Transcript
from transcripts.pipeline.dispatch import dispatch, recover_stale
from transcripts.pipeline.lease import LeaseKeeper
from transcripts.pipeline.run import run

from .conftest import copy_fixture, upload_file

pytestmark = pytest.mark.django_db


def test_signal_retry_and_direct_call_run_the_engine_once(
    alice_client, counted_engine, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the post_save signal's dispatch
        alice_client.post("/upload/", {"audio": upload_file("speech.mp3")})
    t = Transcript.objects.get()
    alice_client.post(f"/t/{t.id}/retry/")  # a retry of a row that did not fail
    dispatch(t.id)  # a duplicate trigger (S3 event, CLI)
    assert run(str(t.id)) == "skipped"  # a direct call
    t.refresh_from_db()
    assert t.status == COMPLETED
    assert len(counted_engine.calls) == 1


def test_only_one_of_two_claims_wins(alice):
    t = Transcript.objects.create(owner=alice, title="x", status=QUEUED)
    assert Transcript.objects.claim(t.id, 60) is True
    assert Transcript.objects.claim(t.id, 60) is False
    t.refresh_from_db()
    assert t.status == PROCESSING and t.attempts == 1 and t.lease_expires_at > timezone.now()


def _stuck(owner, status, minutes_ago: int, attempts: int = 1) -> Transcript:
    return Transcript.objects.create(
        owner=owner,
        title="stuck",
        status=status,
        audio="audio/a/b.mp3",
        attempts=attempts,
        lease_expires_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def test_a_row_left_processing_past_its_lease_is_requeued_and_run(alice, settings, counted_engine):
    t = _stuck(alice, PROCESSING, minutes_ago=1)
    copy_fixture("speech.mp3", settings.MEDIA_ROOT / "audio/a/b.mp3")
    assert recover_stale() == [str(t.id)]
    t.refresh_from_db()
    assert t.status == COMPLETED and t.attempts == 2 and "fox" in t.text.lower()
    assert len(counted_engine.calls) == 1


def test_a_row_still_within_its_lease_is_left_alone(alice):
    t = _stuck(alice, PROCESSING, minutes_ago=-5)  # lease ends in 5 minutes
    assert recover_stale() == []
    t.refresh_from_db()
    assert t.status == PROCESSING


def test_a_row_interrupted_too_often_fails_with_a_reason(alice, settings):
    t = _stuck(alice, PROCESSING, minutes_ago=1, attempts=settings.TRANSCRIBE_MAX_ATTEMPTS)
    assert recover_stale() == []
    t.refresh_from_db()
    assert t.status == FAILED
    assert "interrupted 3 times" in t.error


def test_a_queued_row_whose_worker_vanished_is_dispatched_again(alice, settings):
    copy_fixture("speech.mp3", settings.MEDIA_ROOT / "audio/a/b.mp3")
    t = _stuck(alice, QUEUED, minutes_ago=1, attempts=0)
    assert recover_stale() == [str(t.id)]
    t.refresh_from_db()
    assert t.status == COMPLETED


def test_the_local_worker_recovers_stale_rows_when_it_starts(alice, settings, transactional_db, local_worker):
    copy_fixture("speech.mp3", settings.MEDIA_ROOT / "audio/a/b.mp3")
    t = _stuck(alice, PROCESSING, minutes_ago=1)
    local_worker.start_local_worker()  # what the serving process does as it starts (project/wsgi.py)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        t.refresh_from_db()
        if t.status == COMPLETED:
            break
        time.sleep(0.2)
    assert t.status == COMPLETED


def test_a_running_job_keeps_its_lease_and_a_dead_one_loses_it(alice, monkeypatch):
    """On a controlled clock: the keeper renews a third of the way through each lease."""
    clock = [timezone.now()]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])
    t = Transcript.objects.create(owner=alice, title="long", status=QUEUED)
    assert Transcript.objects.claim(t.id, lease_seconds=60)
    keeper = LeaseKeeper(t.id, lease_seconds=60)
    for _ in range(5):  # 100 s of work, longer than the lease: only the keeper keeps it alive
        clock[0] += timedelta(seconds=20)
        assert keeper.renew()
    assert recover_stale() == []
    clock[0] += timedelta(seconds=61)  # the keeper is gone, as if the process had died
    t.refresh_from_db()
    assert t.status == PROCESSING and t.lease_expires_at < timezone.now()
    assert Transcript.objects.requeue_stale() == [str(t.id)]


def test_the_keeper_renews_from_its_thread_while_the_work_runs(alice, transactional_db):
    t = Transcript.objects.create(owner=alice, title="long", status=QUEUED)
    assert Transcript.objects.claim(t.id, lease_seconds=60)
    Transcript.objects.filter(id=t.id).update(lease_expires_at=timezone.now())
    with LeaseKeeper(t.id, lease_seconds=0.3):  # renews every 0.1 s
        deadline = time.monotonic() + 10
        while (
            Transcript.objects.get(id=t.id).lease_expires_at <= timezone.now() and time.monotonic() < deadline
        ):
            time.sleep(0.05)
    t.refresh_from_db()
    assert t.lease_expires_at > t.started_at
