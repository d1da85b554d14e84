"""The local worker as people meet it: a delete mid-run leaves nothing, turns are
taken between owners, a retry waits on a timer, and missing audio says so."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from transcripts.keys import audio_key
from transcripts.models import COMPLETED, FAILED, QUEUED, Transcript
from transcripts.pipeline.parts import StoredParts
from transcripts.pipeline.run import MISSING_AUDIO, run
from workers.speech.chunking import Span
from workers.speech.engines import EngineError, TranscriptionResult

from .aws_helpers import BUCKET
from .conftest import copy_fixture, fixture_path

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _status(transcript_id) -> str:
    return Transcript.objects.get(id=transcript_id).status


def _stored_files_of(root, transcript_id) -> list[str]:
    """Every file and folder under the storage root that belongs to the transcript."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if str(transcript_id) in str(p))


def _add(owner, settings, name: str = "speech.mp3") -> Transcript:
    """An upload's row and audio; its post_save signal dispatches it."""
    transcript_id = uuid.uuid4()
    key = audio_key(transcript_id, name)
    copy_fixture(name, settings.MEDIA_ROOT / key)
    return Transcript.objects.create(id=transcript_id, owner=owner, title=name, audio=key)


@pytest.mark.parametrize("ending", ["finishes", "fails"])
def test_deleting_a_transcript_while_it_is_processed_leaves_nothing_in_storage(
    alice_client, alice, settings, local_worker, counted_engine, ending
):
    started, deleted = threading.Event(), threading.Event()

    def mid_run(path):
        started.set()
        assert deleted.wait(30)
        # The worker keeps going after the delete: a part of long audio, then its result or a failure.
        transcript_id = path.split("/audio/")[1].split("/")[0]
        StoredParts(transcript_id).put(Span(0, 0.0, 3.0), TranscriptionResult("hi", "en", 3.0, [], "m", "e"))
        if ending == "fails":
            raise EngineError("the engine gave up")

    counted_engine.before = mid_run
    alice_client.post(
        "/upload/", {"audio": SimpleUploadedFile("talk.mp3", fixture_path("speech.mp3").read_bytes())}
    )
    t = Transcript.objects.get()
    assert started.wait(60)
    assert alice_client.post(f"/t/{t.id}/delete/").status_code == 302
    assert not Transcript.objects.filter(id=t.id).exists()
    deleted.set()
    local_worker.stop_local_worker()  # waits for the running job to end
    assert len(counted_engine.calls) == 1
    assert _stored_files_of(settings.MEDIA_ROOT, t.id) == []


def test_one_owners_many_uploads_take_turns_with_anothers_one(
    alice, bob, settings, local_worker, counted_engine
):
    settings.TRANSCRIBE_WORKERS = 1
    first_started, go = threading.Event(), threading.Event()

    def hold_the_first(path):
        if len(counted_engine.calls) == 1:
            first_started.set()
            assert go.wait(30)

    counted_engine.before = hold_the_first
    alices = [_add(alice, settings)]
    assert first_started.wait(60)
    alices += [_add(alice, settings) for _ in range(3)]
    bobs = _add(bob, settings)
    go.set()
    _wait_for(lambda: Transcript.objects.filter(status=COMPLETED).count() == 5)
    owners = {str(t.id): t.owner.username for t in [*alices, bobs]}
    order = [owners[path.split("/audio/")[1].split("/")[0]] for path in counted_engine.calls]
    # Bob's one upload runs as soon as the one already running is done, not after all of Alice's.
    assert order == ["alice", "bob", "alice", "alice", "alice"]


def test_a_retry_waits_on_a_timer_and_the_worker_goes_on_meanwhile(
    alice, settings, local_worker, counted_engine
):
    settings.TRANSCRIBE_WORKERS = 1
    worker = local_worker.local_worker()
    worker.retry_seconds = 3600  # were a worker thread to sleep through it, nothing else would run

    def busy_once(path):
        if len(counted_engine.calls) == 1:
            raise EngineError("the service is busy", transient=True)

    counted_engine.before = busy_once
    first = _add(alice, settings)
    _wait_for(lambda: Transcript.objects.get(id=first.id).attempts == 1 and _status(first.id) == QUEUED)
    second = _add(alice, settings)
    _wait_for(lambda: _status(second.id) == COMPLETED, seconds=30)
    assert _status(first.id) == QUEUED  # still waiting for its timer
    (timer,) = worker._timers
    timer.cancel()
    timer.function()  # the timer's hour, passed at once
    _wait_for(lambda: _status(first.id) == COMPLETED)
    assert len(counted_engine.calls) == 3


def test_a_queued_job_whose_audio_is_gone_fails_saying_so(alice, settings):
    t = _add(alice, settings)  # the inline runner has transcribed it
    assert Transcript.objects.get(id=t.id).status == COMPLETED
    Transcript.objects.filter(id=t.id).update(status=QUEUED)
    (settings.MEDIA_ROOT / t.audio.name).unlink()
    assert run(str(t.id)) == "failed"
    t.refresh_from_db()
    assert t.status == FAILED and t.error == MISSING_AUDIO
    assert "the audio file is missing" in t.error.lower()


def test_on_s3_a_job_whose_audio_is_gone_fails_saying_so(alice, s3):
    t = Transcript.objects.create(
        owner=alice, title="gone", status=QUEUED, audio=audio_key(uuid.uuid4(), "x.mp3")
    )
    assert run(str(t.id)) == "failed"
    t.refresh_from_db()
    assert t.status == FAILED and t.error == MISSING_AUDIO
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0  # nothing written for it


def test_a_job_the_database_was_too_busy_to_claim_comes_back(alice, settings, local_worker, monkeypatch):
    from django.db import OperationalError

    from transcripts.models import TranscriptQuerySet

    worker = local_worker.local_worker()
    worker.busy_seconds = 0.1
    real_claim, refusals = TranscriptQuerySet.claim, []

    def locked_once(self, *args, **kwargs):
        if not refusals:
            refusals.append(1)
            raise OperationalError("database table is locked")  # what SQLite answers under load
        return real_claim(self, *args, **kwargs)

    monkeypatch.setattr(TranscriptQuerySet, "claim", locked_once)
    t = _add(alice, settings)
    _wait_for(lambda: _status(t.id) == COMPLETED)
    assert refusals == [1]
