"""S3 event handlers: thin `(event, context)` functions over domain functions.

Zappa 0.63 gives every S3 notification of a function the same Id and routes S3
events by bucket ARN, so two `events` entries on one bucket overwrite each
other's notification and each event would run every function listed for the
bucket. The bucket therefore has exactly one notification (all ObjectCreated,
no prefix filter), to `route`, which dispatches each record by its key's prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import unquote_plus

from transcripts.keys import AUDIO_PREFIX, INBOX_PREFIX, TRANSCRIPTS_PREFIX

from .errors import is_transient

log = logging.getLogger(__name__)


def records(event: dict) -> list[tuple[str, str]]:
    """(bucket, key) for every ObjectCreated record; keys URL-decoded."""
    out = []
    for record in event.get("Records") or []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name", "")
        key = unquote_plus((s3.get("object") or {}).get("key", ""))
        if key:
            out.append((bucket, key))
    return out


def worker_for(key: str) -> Callable[[str], object] | None:
    """The domain function for an object's key: audio arrived, or a result to record."""
    from transcripts.arrivals import audio_arrived
    from transcripts.models import record_result

    if key.startswith(TRANSCRIPTS_PREFIX):
        return record_result
    if key.startswith((AUDIO_PREFIX, INBOX_PREFIX)):
        return audio_arrived
    return None


def route(event: dict, context) -> dict:
    """Run every record's worker; one failing record does not stop the others.
    If any failed, re-raise afterwards (a transient failure first) so that
    `workers.errors.exception_handler` decides whether Lambda retries the event;
    the workers are idempotent, so a retry repeats the successful records harmlessly."""
    handled, errors = [], []
    for _bucket, key in records(event):
        worker = worker_for(key)
        if worker is None:
            log.info("ignoring %s: no worker for this prefix", key)
            continue
        try:
            worker(key)
        except Exception as exc:
            log.exception("worker for %s failed", key)
            errors.append(exc)
            continue
        handled.append(key)
    if errors:
        first = next((e for e in errors if is_transient(e)), errors[0])
        if isinstance(first, TypeError):
            # Zappa answers a TypeError by calling us again with fewer arguments.
            raise RuntimeError(f"S3 event worker failed: {first}") from first
        raise first
    return {"handled": handled}
