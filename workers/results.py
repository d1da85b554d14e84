"""Step 4 of a transcript's life: the result document exists, so record it.

Runs from the S3 event for `transcripts/` on AWS and from a synthesised event
locally, so both modes share this path. Idempotent: a duplicate event finds
the row already completed and only rewrites the same tags.
"""

from __future__ import annotations

import logging

from transcripts import storage as store
from transcripts.keys import id_from_key
from transcripts.models import Transcript

log = logging.getLogger(__name__)


def record_result(key: str) -> Transcript | None:
    transcript_id = id_from_key(key)
    if transcript_id is None:
        log.warning("ignoring %s: not a transcripts/<uuid>.json key", key)
        return None
    transcript = Transcript.objects.filter(id=transcript_id).first()
    if transcript is None:
        log.warning("ignoring %s: no transcript %s (deleted?)", key, transcript_id)
        return None
    data = store.get_json(key)
    transcript.apply_result(data)
    store.set_tags(
        transcript.audio.name,
        {
            "transcript-id": str(transcript.id),
            "status": "completed",
            "transcript-key": key,
            "language": transcript.language or "unknown",
            "duration": f"{transcript.duration or 0:.1f}",
        },
    )
    return transcript
