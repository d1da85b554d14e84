"""On AWS: audio arrived in the bucket (the S3 event router, workers/events.py, calls this).

`audio/<uuid>/<name>` is a web upload whose row exists (or is about to: a
presigned upload lands before the browser registers it). `inbox/<username>/<name>`
is a direct drop: the worker creates the row, owned by that user.

Workers only read and tag under `audio/` and `inbox/`, never write there, so
nothing here emits another ObjectCreated. Every outcome is idempotent: S3
delivers at least once, sometimes twice.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model

from . import storage as store
from .keys import INBOX_PREFIX, id_from_key, title_from_name
from .models import QUEUED, UPLOADED, Transcript
from .pipeline.dispatch import dispatch

log = logging.getLogger(__name__)

# A drop's transcript id is derived from the object (key and ETag), so a
# duplicate event finds the row it created and two racing deliveries collide on
# the primary key instead of creating two rows.
DROP_NAMESPACE = uuid.UUID("6f1d9a52-3c0e-4c61-9b8e-2a7d0c5e4b18")


def drop_id(key: str, etag: str) -> uuid.UUID:
    return uuid.uuid5(DROP_NAMESPACE, f"{key}\n{etag}")


def audio_arrived(key: str) -> str:
    """Returns what happened: dispatched|skipped|unregistered|ignored, or for
    drops created|duplicate|rejected|gone."""
    if key.startswith(INBOX_PREFIX):
        return inbox_drop(key)
    transcript_id = id_from_key(key)
    if transcript_id is None:
        log.warning("ignoring %s: no transcript id in the key", key)
        return "ignored"
    transcript = Transcript.objects.filter(id=transcript_id).only("id", "status").first()
    if transcript is None:
        log.info("%s is not registered yet; registering it dispatches it", key)
        return "unregistered"
    _tag_once(key, transcript.id)
    return _dispatch_if_waiting(transcript)


def inbox_drop(key: str) -> str:
    """The owner rule: `inbox/<username>/<any name>` belongs to the active user
    `<username>`. Anything else is tagged status=rejected with a reason and kept."""
    username, _, name = key[len(INBOX_PREFIX) :].partition("/")
    if not username or not name or name.endswith("/"):
        return _reject(key, "Drop files as inbox/<username>/<file name>")
    info = store.head(key)
    if info is None:
        log.info("ignoring %s: deleted before its event arrived", key)
        return "gone"
    transcript_id = drop_id(key, info["etag"])
    existing = Transcript.objects.filter(id=transcript_id).only("id", "status").first()
    if existing is not None:
        return _duplicate(key, existing)
    owner = get_user_model().objects.filter(username=username, is_active=True).first()
    if owner is None:
        return _reject(key, f"No active user named {username}")
    if info["size"] == 0:
        return _reject(key, "The file is empty")
    if info["size"] > settings.MAX_UPLOAD_MB * 2**20:
        return _reject(key, f"The file is larger than {settings.MAX_UPLOAD_MB} MB")
    transcript, created = Transcript.objects.get_or_create(
        id=transcript_id,
        defaults=dict(
            owner=owner,
            title=title_from_name(name),
            source="drop",
            audio=key,  # the object stays where it was dropped
            original_name=name[:300],
            size_bytes=info["size"],
        ),
    )
    if not created:  # another delivery of this event won the insert
        return _duplicate(key, transcript)
    store.set_tags(key, {"transcript-id": str(transcript.id)})
    log.info("drop %s is transcript %s for %s", key, transcript.id, username)
    # The post_save signal dispatches the new row once this insert commits.
    return "created"


def _duplicate(key: str, transcript: Transcript) -> str:
    _tag_once(key, transcript.id)
    _dispatch_if_waiting(transcript)
    return "duplicate"


def _dispatch_if_waiting(transcript: Transcript) -> str:
    """Dispatch a row nobody has started; the claim in `run` makes a second
    dispatch harmless, this only saves a pointless async invoke."""
    if transcript.status not in (UPLOADED, QUEUED):
        return "skipped"
    dispatch(transcript.id)
    return "dispatched"


def _tag_once(key: str, transcript_id: uuid.UUID) -> None:
    # Tagging is read-modify-write: skipping it when the tag is there keeps a
    # late duplicate event from overwriting the status tags written since.
    if store.get_tags(key).get("transcript-id") != str(transcript_id):
        store.set_tags(key, {"transcript-id": str(transcript_id)})


def _reject(key: str, reason: str) -> str:
    log.warning("rejected %s: %s", key, reason)
    store.set_tags(key, {"status": "rejected", "reason": reason})
    return "rejected"
