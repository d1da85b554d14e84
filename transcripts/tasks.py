"""Background work. Every trigger ends in `dispatch(transcript_id)`.

On Lambda `dispatch` calls the Zappa `@task`, an asynchronous invoke of this
same code. Off Lambda a `@task` would run inline and block the upload request,
so locally the id goes to a bounded in-process executor instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import quote_plus

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone
from zappa.asynchronous import task

from transcripts import storage as store
from workers.speech.audio import AudioError, probe
from workers.speech.engines import EngineError, TranscribeOptions, get_engine

from .keys import transcript_key
from .models import FAILED, PROCESSING, QUEUED, UPLOADED, Transcript

log = logging.getLogger(__name__)

UNEXPECTED = "Transcription failed because of an unexpected error on our side. Retry, and if it fails again, check the server log."


class TransientError(Exception):
    """Raised out of the Lambda task so that Lambda's async retry runs it again."""


def dispatch(transcript_id) -> None:
    transcript_id = str(transcript_id)
    lease = timezone.now() + timedelta(seconds=settings.TRANSCRIBE_LEASE_SECONDS)
    Transcript.objects.filter(id=transcript_id, status=UPLOADED).update(status=QUEUED, lease_expires_at=lease)
    runner = settings.TRANSCRIBE_RUNNER
    if runner == "lambda":
        transcribe(transcript_id)
    elif runner == "inline":
        transcribe.sync(transcript_id)
    else:
        local_worker().submit(transcript_id)


@task
def transcribe(transcript_id: str) -> str:
    """The transcription entry point: only ids cross the async boundary."""
    outcome = run(transcript_id)
    if outcome == "retry":
        raise TransientError(f"transcript {transcript_id}: transient failure, retrying")
    return outcome


def run(transcript_id: str) -> str:
    """Claim, transcribe, store the result. Returns completed|failed|skipped|retry."""
    if not Transcript.objects.claim(transcript_id, settings.TRANSCRIBE_LEASE_SECONDS):
        return "skipped"
    transcript = Transcript.objects.get(id=transcript_id)
    try:
        with LeaseKeeper(transcript.id, settings.TRANSCRIBE_LEASE_SECONDS):
            return _transcribe_claimed(transcript)
    except AudioError as exc:
        return _failed(transcript, str(exc))
    except EngineError as exc:
        if exc.transient and transcript.attempts < settings.TRANSCRIBE_MAX_ATTEMPTS:
            transcript.requeue(from_statuses=(PROCESSING,))
            return "retry"
        return _failed(transcript, str(exc))
    except Exception:
        log.exception("transcript %s failed", transcript_id)
        return _failed(transcript, UNEXPECTED)


class LeaseKeeper:
    """Renews a claimed row's lease from a side thread while the work runs, so
    the lease runs out only when this process dies (crash, Lambda timeout),
    never because one engine call was slow. The thread ends with the work."""

    def __init__(self, transcript_id, lease_seconds: int):
        self.transcript_id = transcript_id
        self.lease_seconds = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        try:
            while not self._stop.wait(self.lease_seconds / 3):
                lease = timezone.now() + timedelta(seconds=self.lease_seconds)
                Transcript.objects.filter(id=self.transcript_id, status=PROCESSING).update(
                    lease_expires_at=lease
                )
        except Exception:
            log.exception("could not renew the lease of %s", self.transcript_id)
        finally:
            connections.close_all()  # this thread's connections only


def _failed(transcript: Transcript, reason: str) -> str:
    transcript.fail(reason)
    try:
        store.set_tags(
            transcript.audio.name,
            {"transcript-id": str(transcript.id), "status": "failed", "reason": reason},
        )
    except Exception:
        log.exception("could not tag %s", transcript.audio.name)
    return "failed"


def _transcribe_claimed(transcript: Transcript) -> str:
    from workers.speech.parts import StoredParts

    from .chunked import fan_out, wants_tasks

    started = time.monotonic()
    progress = throttled(transcript.heartbeat)
    max_seconds = settings.MAX_AUDIO_MINUTES * 60
    options = TranscribeOptions(
        language=transcript.language_hint or None,
        word_timestamps=transcript.word_timestamps,
        speakers=transcript.speaker_count,
    )
    # Parts of long audio are kept as they finish: a retry redoes only the missing ones.
    parts = StoredParts(transcript.id)
    with store.local_copy(transcript.audio.name) as path:
        info = probe(path, max_seconds=max_seconds, min_seconds=settings.MIN_AUDIO_SECONDS)
        if wants_tasks(info.duration):
            # Too long for one Lambda invocation: one @task per part (transcripts/chunked.py).
            return fan_out(transcript, path, info.duration)
        result = get_engine().transcribe(path, options, progress, parts=parts)
    result.timings["total"] = round(time.monotonic() - started, 3)
    store_result(transcript, result)
    parts.clear()
    return "completed"


def throttled(report: Callable[[float], None], seconds: float = 2.0) -> Callable[[float], None]:
    """An engine progress callback that writes at most every `seconds`: engines
    report per segment, and each report is a database UPDATE."""
    last = [time.monotonic()]

    def progress(fraction: float) -> None:
        if time.monotonic() - last[0] >= seconds:
            last[0] = time.monotonic()
            report(fraction)

    return progress


def synthetic_event(key: str) -> dict:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "local"}, "object": {"key": quote_plus(key)}},
            }
        ]
    }


def recover_stale() -> list[str]:
    """Put rows whose worker vanished back to work; give up after MAX_ATTEMPTS."""
    recovered = []
    now = timezone.now()
    for t in Transcript.objects.stale().only("id", "status", "attempts"):
        # Conditional on still being stale: a worker may renew or finish it meanwhile.
        stale = Transcript.objects.stale().filter(id=t.id, status=t.status)
        if t.status == PROCESSING and t.attempts >= settings.TRANSCRIBE_MAX_ATTEMPTS:
            stale.update(
                status=FAILED,
                error=f"Transcription was interrupted {t.attempts} times (the worker stopped or timed out). Retry to try again.",
                lease_expires_at=None,
            )
            continue
        lease = now + timedelta(seconds=settings.TRANSCRIBE_LEASE_SECONDS)
        if stale.update(status=QUEUED, lease_expires_at=lease):
            recovered.append(str(t.id))
    for transcript_id in recovered:
        log.info("recovering stale transcript %s", transcript_id)
        dispatch(transcript_id)
    return recovered


class LocalWorker:
    """A bounded executor plus a sweeper that recovers stale rows at start and
    then once a minute. Lives as long as the web process; never used on Lambda."""

    def __init__(self, workers: int, sweep_seconds: float = 60.0):
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transcribe")
        self.sweep_seconds = sweep_seconds
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, name="transcribe-sweeper", daemon=True)
        self._sweeper.start()

    def submit(self, transcript_id: str) -> Future:
        return self.executor.submit(self._run, transcript_id)

    def _run(self, transcript_id: str) -> str:
        close_old_connections()
        try:
            outcome = run(transcript_id)
            if outcome == "retry":
                time.sleep(5)
                self.submit(transcript_id)
            return outcome
        finally:
            close_old_connections()

    def _sweep(self) -> None:
        while not self._stop.is_set():
            try:
                close_old_connections()
                recover_stale()
            except Exception:
                log.exception("stale-row sweep failed")
            finally:
                close_old_connections()
            self._stop.wait(self.sweep_seconds)

    def shutdown(self) -> None:
        self._stop.set()
        self.executor.shutdown(wait=True)


_worker: LocalWorker | None = None
_worker_lock = threading.Lock()


def local_worker() -> LocalWorker:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = LocalWorker(settings.TRANSCRIBE_WORKERS)
        return _worker


def store_result(transcript: Transcript, result) -> None:
    """Write transcripts/<uuid>.json; its ObjectCreated event (synthesised locally) completes the row."""
    key = transcript_key(transcript.id)
    doc = {"id": str(transcript.id), "source_key": transcript.audio.name, **result.to_dict()}
    store.put_json(
        key, doc, {"transcript-id": str(transcript.id), "source-key": quote_plus(transcript.audio.name)}
    )
    if not store.on_s3():
        # On AWS the bucket's ObjectCreated event runs this step; locally we
        # hand the same router a synthesised event so both modes share it.
        from workers.events import route

        route(synthetic_event(key), None)


@task
def transcribe_parts(transcript_id: str, indexes: list[int]) -> str:
    """One part of a long transcript per invocation; the rest of `indexes` goes on in a new one."""
    from .chunked import run_part

    return run_part(transcript_id, indexes)
