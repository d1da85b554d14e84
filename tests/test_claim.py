"""One transcription per upload, however many triggers; stuck rows are recovered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from transcripts import tasks
from transcripts.models import COMPLETED, FAILED, PROCESSING, QUEUED, Transcript
from workers.speech.engines import local as local_engine

from .conftest import upload_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def engine_runs(monkeypatch):
    """Count real engine runs (the engine itself still runs)."""
    runs = []
    original = local_engine.LocalEngine.transcribe

    def counting(self, path, options, progress=None, **kwargs):
        runs.append(path)
        return original(self, path, options, progress, **kwargs)

    monkeypatch.setattr(local_engine.LocalEngine, "transcribe", counting)
    return runs


def test_signal_retry_and_direct_call_run_the_engine_once(
    alice_client, engine_runs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the post_save signal's dispatch
        alice_client.post("/upload/", {"audio": upload_file("speech.mp3")})
    t = Transcript.objects.get()
    alice_client.post(f"/t/{t.id}/retry/")  # a retry of a row that did not fail
    tasks.dispatch(t.id)  # a duplicate trigger (S3 event, CLI)
    assert tasks.run(str(t.id)) == "skipped"  # a direct call
    t.refresh_from_db()
    assert t.status == COMPLETED
    assert len(engine_runs) == 1


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


def test_a_row_left_processing_past_its_lease_is_requeued_and_run(alice, settings, engine_runs):
    from .conftest import copy_fixture

    t = _stuck(alice, PROCESSING, minutes_ago=1)
    copy_fixture("speech.mp3", settings.MEDIA_ROOT / "audio/a/b.mp3")
    assert tasks.recover_stale() == [str(t.id)]
    t.refresh_from_db()
    assert t.status == COMPLETED and t.attempts == 2 and "fox" in t.text.lower()
    assert len(engine_runs) == 1


def test_a_row_still_within_its_lease_is_left_alone(alice):
    t = _stuck(alice, PROCESSING, minutes_ago=-5)  # lease ends in 5 minutes
    assert tasks.recover_stale() == []
    t.refresh_from_db()
    assert t.status == PROCESSING


def test_a_row_interrupted_too_often_fails_with_a_reason(alice, settings):
    t = _stuck(alice, PROCESSING, minutes_ago=1, attempts=settings.TRANSCRIBE_MAX_ATTEMPTS)
    assert tasks.recover_stale() == []
    t.refresh_from_db()
    assert t.status == FAILED
    assert "interrupted 3 times" in t.error


def test_a_queued_row_whose_worker_vanished_is_dispatched_again(alice, settings):
    from .conftest import copy_fixture

    copy_fixture("speech.mp3", settings.MEDIA_ROOT / "audio/a/b.mp3")
    t = _stuck(alice, QUEUED, minutes_ago=1, attempts=0)
    assert tasks.recover_stale() == [str(t.id)]
    t.refresh_from_db()
    assert t.status == COMPLETED


def test_the_local_worker_recovers_stale_rows_when_it_starts(alice, settings, transactional_db, monkeypatch):
    from .conftest import copy_fixture

    copy_fixture("speech.mp3", settings.MEDIA_ROOT / "audio/a/b.mp3")
    t = _stuck(alice, PROCESSING, minutes_ago=1)
    settings.TRANSCRIBE_RUNNER = "thread"
    monkeypatch.setattr(tasks, "_worker", None)
    worker = tasks.local_worker()  # what the first request of a web process starts
    try:
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            t.refresh_from_db()
            if t.status == COMPLETED:
                break
            time.sleep(0.2)
    finally:
        worker.shutdown()
        monkeypatch.setattr(tasks, "_worker", None)
    assert t.status == COMPLETED


def test_a_running_job_keeps_its_lease_and_a_dead_one_loses_it(alice, transactional_db):
    import time

    t = Transcript.objects.create(owner=alice, title="long", status=QUEUED)
    assert Transcript.objects.claim(t.id, lease_seconds=1)
    with tasks.LeaseKeeper(t.id, lease_seconds=1):
        time.sleep(1.6)  # longer than the lease: only the keeper keeps it alive
        assert tasks.recover_stale() == []
    time.sleep(1.2)  # the keeper is gone, as if the process had died
    t.refresh_from_db()
    assert t.status == PROCESSING and t.lease_expires_at < timezone.now()
