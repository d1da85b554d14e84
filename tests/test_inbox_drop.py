"""Direct drops under inbox/<username>/, delivered through Zappa's handler."""

from __future__ import annotations

import json

import pytest

from transcripts import storage as store
from transcripts.arrivals import drop_id
from transcripts.keys import transcript_key
from transcripts.models import COMPLETED, FAILED, Transcript

from .aws_helpers import BUCKET, WRITES, deliver_all, invoke, s3_event
from .conftest import fixture_path


def _drop(s3_client, key: str, fixture: str = "speech.mp3") -> None:
    s3_client.put_object(Bucket=BUCKET, Key=key, Body=fixture_path(fixture).read_bytes())


@pytest.mark.django_db(transaction=True)
def test_a_drop_is_transcribed_end_to_end_and_workers_never_write_under_its_prefix(
    zappa_handler, alice, s3, s3_calls, async_invokes
):
    """Real engine (tiny.en) on real speech, every step through Zappa's handler."""
    key = "inbox/alice/Team sync (Monday).mp3"
    _drop(s3, key)
    s3_calls.clear()

    assert invoke(zappa_handler, s3_event(key)) == {"handled": [key]}
    t = Transcript.objects.get()
    assert (t.owner, t.source, t.title, t.audio.name) == (alice, "drop", "Team sync (Monday)", key)
    assert store.get_tags(key) == {"transcript-id": str(t.id)}
    assert deliver_all(zappa_handler, async_invokes) == ["completed"]
    invoke(zappa_handler, s3_event(transcript_key(t.id)))

    t.refresh_from_db()
    assert t.status == COMPLETED, t.error
    assert "fox" in t.text.lower() and t.language == "en" and 6.0 < t.duration < 7.0
    doc = json.loads(s3.get_object(Bucket=BUCKET, Key=transcript_key(t.id))["Body"].read())
    assert {"id", "source_key", "text", "language", "duration", "model", "segments"} <= set(doc)
    assert doc["id"] == str(t.id) and doc["source_key"] == key and doc["text"] == t.text
    assert all({"start", "end", "text"} <= set(seg) for seg in doc["segments"])
    head = s3.head_object(Bucket=BUCKET, Key=transcript_key(t.id))
    assert head["Metadata"]["transcript-id"] == str(t.id)
    assert store.get_tags(key) == {
        "transcript-id": str(t.id),
        "status": "completed",
        "transcript-key": transcript_key(t.id),
        "language": "en",
        "duration": f"{t.duration:.1f}",
    }
    # The drop stays where it was, and the only object any worker wrote is the result.
    assert (
        s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == fixture_path("speech.mp3").stat().st_size
    )
    assert [k for op, k in s3_calls if op in WRITES] == [transcript_key(t.id)]
    assert {op for op, k in s3_calls if k.startswith(("audio/", "inbox/"))} <= {
        "HeadObject",
        "GetObject",
        "GetObjectTagging",
        "PutObjectTagging",
    }


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_drop_event_finds_the_row_it_created(
    zappa_handler, alice, s3, async_invokes, counted_engine
):
    key = "inbox/alice/weekly.mp3"
    _drop(s3, key)
    for _ in range(3):
        invoke(zappa_handler, s3_event(key))
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    assert list(Transcript.objects.values_list("id", flat=True)) == [drop_id(key, etag)]
    assert sorted(deliver_all(zappa_handler, async_invokes)) == ["completed", "skipped", "skipped"]
    assert len(counted_engine.calls) == 1


@pytest.mark.parametrize(
    "key, reason",
    [
        ("inbox/mallory/talk.mp3", "No active user named mallory"),
        ("inbox/talk.mp3", "Drop files as inbox/username/file name"),
        ("inbox/alice/", "Drop files as inbox/username/file name"),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_a_drop_that_cannot_be_placed_is_tagged_rejected_and_kept(zappa_handler, alice, s3, key, reason):
    _drop(s3, key)
    invoke(zappa_handler, s3_event(key))
    assert not Transcript.objects.exists()
    assert store.get_tags(key) == {"status": "rejected", "reason": reason}
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] > 0


@pytest.mark.django_db(transaction=True)
def test_an_empty_drop_is_rejected(zappa_handler, alice, s3):
    s3.put_object(Bucket=BUCKET, Key="inbox/alice/empty.mp3", Body=b"")
    invoke(zappa_handler, s3_event("inbox/alice/empty.mp3"))
    assert not Transcript.objects.exists()
    assert store.get_tags("inbox/alice/empty.mp3") == {"status": "rejected", "reason": "The file is empty"}


@pytest.mark.django_db(transaction=True)
def test_a_drop_that_is_not_audio_ends_failed_with_a_reason_and_tags(zappa_handler, alice, s3, async_invokes):
    key = "inbox/alice/notes.mp3"
    _drop(s3, key, "not_audio.mp3")
    invoke(zappa_handler, s3_event(key))
    assert deliver_all(zappa_handler, async_invokes) == ["failed"]
    t = Transcript.objects.get()
    assert t.status == FAILED and "not audio" in t.error
    tags = store.get_tags(key)
    assert tags["status"] == "failed" and tags["transcript-id"] == str(t.id)
    assert tags["reason"] == "This file is not audio or video we can read."
    assert s3.head_object(Bucket=BUCKET, Key=key)  # kept for a retry or a look
