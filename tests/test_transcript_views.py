"""Detail page, status polling, playback, retry, edit and delete."""

from __future__ import annotations

import pytest

from transcripts.models import COMPLETED, FAILED, Transcript

from .conftest import upload_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def done(post_upload) -> Transcript:
    post_upload({"audio": upload_file("two_sentences.mp3"), "title": "Budget"})
    t = Transcript.objects.get()
    assert t.status == COMPLETED, t.error
    return t


def test_the_detail_page_shows_player_and_timestamped_segments(alice_client, done):
    body = alice_client.get(f"/t/{done.id}/").content.decode()
    assert f'<audio id="player" controls preload="metadata" src="/t/{done.id}/audio/"' in body
    assert body.count('class="segment"') == len(done.segments) >= 1
    assert f'data-start="{done.segments[0]["start"]}"' in body
    assert "budget" in body.lower() and "Export:" in body


def test_status_reports_progress_for_polling(alice_client, done):
    data = alice_client.get(f"/t/{done.id}/status/").json()
    assert data == {"status": "completed", "progress": 1.0, "error": "", "active": False}


def test_the_audio_supports_range_requests_for_seeking(alice_client, done, settings):
    size = (settings.MEDIA_ROOT / done.audio.name).stat().st_size
    response = alice_client.get(f"/t/{done.id}/audio/", HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{size}"
    part = b"".join(response.streaming_content)
    assert len(part) == 100 and response["Content-Type"] == "audio/mpeg"
    full = alice_client.get(f"/t/{done.id}/audio/")
    assert full.status_code == 200 and full["Accept-Ranges"] == "bytes"
    whole = b"".join(full.streaming_content)
    assert whole[100:200] == part
    # What a browser asks first: streamed in pieces, never read whole.
    opening = alice_client.get(f"/t/{done.id}/audio/", HTTP_RANGE="bytes=0-")
    assert opening.status_code == 206 and opening.streaming
    assert opening["Content-Length"] == str(size)
    pieces = list(opening.streaming_content)
    assert b"".join(pieces) == whole and max(len(p) for p in pieces) <= 64 * 1024
    tail = alice_client.get(f"/t/{done.id}/audio/", HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == whole[-10:]
    assert alice_client.get(f"/t/{done.id}/audio/", HTTP_RANGE=f"bytes={size + 5}-").status_code == 416


def test_a_failed_transcript_can_be_retried(alice_client, done, django_capture_on_commit_callbacks):
    Transcript.objects.filter(id=done.id).update(
        status=FAILED, error="The worker ran out of memory.", text=""
    )
    body = alice_client.get(f"/t/{done.id}/").content.decode()
    assert "The worker ran out of memory." in body and ">Retry</button>" in body
    response = alice_client.post(f"/t/{done.id}/retry/")
    assert response.status_code == 302
    done.refresh_from_db()
    assert done.status == COMPLETED and done.error == "" and "budget" in done.text.lower()


def test_fixing_a_segment_changes_text_and_exports(alice_client, done):
    fields = {f"seg-{i}": s["text"] for i, s in enumerate(done.segments)}
    fields["seg-0"] = "Corrected first line."
    response = alice_client.post(f"/t/{done.id}/edit/", fields)
    assert response.status_code == 302
    done.refresh_from_db()
    assert done.edited and done.segments[0]["text"] == "Corrected first line."
    assert done.text.startswith("Corrected first line.")
    assert alice_client.get(f"/t/{done.id}/export.txt").content.decode().startswith("Corrected first line.\n")


def test_delete_removes_the_row_and_its_files(alice_client, done, settings):
    audio = settings.MEDIA_ROOT / done.audio.name
    result = settings.MEDIA_ROOT / f"transcripts/{done.id}.json"
    leftover_part = settings.MEDIA_ROOT / f"work/{done.id}/part-1.json"  # from an earlier failed run
    leftover_part.parent.mkdir(parents=True)
    leftover_part.write_text("{}")
    assert audio.exists() and result.exists()
    response = alice_client.post(f"/t/{done.id}/delete/")
    assert response.status_code == 302
    assert not Transcript.objects.exists()
    assert not audio.exists() and not result.exists() and not leftover_part.exists()


def test_the_list_is_newest_first_paginated_and_searchable(alice_client, alice):
    for i in range(30):
        Transcript.objects.create(
            owner=alice, title=f"Meeting {i:02d}", status=COMPLETED, text=f"topic{i}", duration=60.0
        )
    page1 = alice_client.get("/").content.decode()
    assert page1.index("Meeting 29") < page1.index("Meeting 28")
    assert "Meeting 04" not in page1 and "Page 1 of 2" in page1
    assert "Meeting 04" in alice_client.get("/?page=2").content.decode()
    found = alice_client.get("/?q=topic7").content.decode()
    assert "Meeting 07" in found and "Meeting 08" not in found
    many = alice_client.get("/?q=meeting").content.decode()  # 30 hits: two pages, no total counted
    assert "Meeting 29" in many and "Meeting 04" not in many and "Older →" in many
    second = alice_client.get("/?q=meeting&page=2").content.decode()
    assert "Meeting 04" in second and "Meeting 05" not in second and "Older →" not in second
    assert "Page 2" in second and "← Newer" in second
    assert "Meeting 29" in alice_client.get("/?q=meeting&page=junk").content.decode()
