"""S3 event handlers: thin `(event, context)` functions over domain functions.

Zappa routes a whole S3 event to one function by its bucket (see README,
"One S3 source"), so one router receives everything and dispatches each record
by its key's prefix.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote_plus

from transcripts.keys import AUDIO_PREFIX, INBOX_PREFIX, TRANSCRIPTS_PREFIX

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


def route(event: dict, context) -> dict:
    if event.get("Event") == "s3:TestEvent":
        return {"ignored": "s3:TestEvent"}
    from .arrivals import audio_arrived
    from .results import record_result

    handled = []
    for _bucket, key in records(event):
        if key.startswith(TRANSCRIPTS_PREFIX):
            record_result(key)
        elif key.startswith((AUDIO_PREFIX, INBOX_PREFIX)):
            audio_arrived(key)
        else:
            log.info("ignoring %s: no worker for this prefix", key)
            continue
        handled.append(key)
    return {"handled": handled}
