"""Step 1: every trigger ends in `dispatch(transcript_id)`.

On Lambda `dispatch` calls the Zappa `@task`, an asynchronous invoke of this same
code. Off Lambda a `@task` would run inline and block the upload request, so
locally the id joins the in-process queue (queue.py) instead.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from transcripts.models import QUEUED, UPLOADED, Transcript, stale_sweep

from .queue import local_worker
from .run import transcribe

log = logging.getLogger(__name__)


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


def recover_stale() -> list[str]:
    """Put rows whose worker vanished back to work (the Lambda schedule and the CLI call this);
    listeners to stale_sweep recover their own (webhook deliveries)."""
    recovered = Transcript.objects.requeue_stale()
    for transcript_id in recovered:
        log.info("recovering stale transcript %s", transcript_id)
        dispatch(transcript_id)
    stale_sweep.send(sender=Transcript)
    return recovered
