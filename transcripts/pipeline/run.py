"""Step 2: one worker's turn with a transcript. Only ids cross the async boundary."""

from __future__ import annotations

import contextlib
import logging
import time

from django.conf import settings
from zappa.asynchronous import task

from transcripts import storage as store
from transcripts.engines import get_engine
from transcripts.models import PROCESSING, UNEXPECTED, Transcript, forget_if_deleted
from workers.speech.audio import AudioError, probe
from workers.speech.engines import EngineError, TransientError, throttled

from . import Outcome
from .lease import LeaseKeeper
from .parts import StoredParts, fan_out, wants_tasks

log = logging.getLogger(__name__)

MISSING_AUDIO = "The audio file is missing: it is no longer in storage. Upload it again."


@task
def transcribe(transcript_id: str) -> str:
    """The Lambda entry point of a transcription (runs inline off Lambda)."""
    outcome = run(transcript_id)
    if outcome == Outcome.RETRY:
        raise TransientError(f"transcript {transcript_id}: transient failure, retrying")
    return outcome


def run(transcript_id: str) -> Outcome:
    """Claim, transcribe, store the result or the failure."""
    if not Transcript.objects.claim(transcript_id, settings.TRANSCRIBE_LEASE_SECONDS):
        return Outcome.SKIPPED
    transcript = Transcript.objects.filter(id=transcript_id).first()
    try:
        if transcript is None:  # deleted since the claim
            return Outcome.SKIPPED
        with LeaseKeeper(transcript.id):
            return _transcribe_claimed(transcript)
    except AudioError as exc:
        transcript.fail(str(exc))
        return Outcome.FAILED
    except EngineError as exc:
        if exc.transient and transcript.attempts < settings.TRANSCRIBE_MAX_ATTEMPTS:
            transcript.requeue(from_statuses=(PROCESSING,))
            return Outcome.RETRY
        transcript.fail(str(exc))
        return Outcome.FAILED
    except Exception:
        log.exception("transcript %s failed", transcript_id)
        transcript.fail(UNEXPECTED)
        return Outcome.FAILED
    finally:
        forget_if_deleted(transcript_id)  # deleted while we worked: leave nothing of it


def _transcribe_claimed(transcript: Transcript) -> Outcome:
    started = time.monotonic()
    # Parts of long audio are kept as they finish: a retry redoes only the missing ones.
    parts = StoredParts(transcript.id)
    with contextlib.ExitStack() as stack:
        try:
            path = stack.enter_context(store.local_copy(transcript.audio.name))
        except FileNotFoundError as exc:
            raise AudioError(MISSING_AUDIO) from exc
        info = probe(
            path, max_seconds=settings.MAX_AUDIO_MINUTES * 60, min_seconds=settings.MIN_AUDIO_SECONDS
        )
        if wants_tasks(info.duration):
            # Too long for one Lambda invocation: one @task per part (parts.py).
            return fan_out(transcript, path, info.duration)
        progress = throttled(transcript.report_progress)
        result = get_engine().transcribe(path, transcript.transcribe_options(), progress, parts=parts)
    result.timings["total"] = round(time.monotonic() - started, 3)
    transcript.store_result(result)
    parts.clear()
    return Outcome.COMPLETED
