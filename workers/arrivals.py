"""Step 2 on AWS: audio arrived in the bucket."""

from __future__ import annotations

import logging

from transcripts.keys import INBOX_PREFIX, id_from_key

log = logging.getLogger(__name__)


def audio_arrived(key: str) -> None:
    from transcripts.tasks import dispatch

    if key.startswith(INBOX_PREFIX):
        log.warning("inbox drops are not handled yet: %s", key)
        return
    transcript_id = id_from_key(key)
    if transcript_id is None:
        log.warning("ignoring %s: no transcript id in the key", key)
        return
    dispatch(transcript_id)
