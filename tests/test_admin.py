from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from transcripts.models import COMPLETED, FAILED, Transcript

from .conftest import copy_fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-for-admin-1"))
    return client


def test_admin_lists_and_filters_by_status_and_owner(admin_client, alice, bob):
    Transcript.objects.create(owner=alice, title="alice done", status=COMPLETED)
    Transcript.objects.create(owner=bob, title="bob failed", status=FAILED)
    body = admin_client.get("/admin/transcripts/transcript/?status=failed").content.decode()
    assert "bob failed" in body and "alice done" not in body
    body = admin_client.get(f"/admin/transcripts/transcript/?owner__id__exact={alice.id}").content.decode()
    assert "alice done" in body and "bob failed" not in body


def test_admin_retry_action_transcribes_failed_rows(admin_client, alice, settings):
    copy_fixture("speech.mp3", settings.MEDIA_ROOT / "audio/r/speech.mp3")
    t = Transcript.objects.create(
        owner=alice, title="r", status=FAILED, error="boom", audio="audio/r/speech.mp3"
    )
    done = Transcript.objects.create(owner=alice, title="d", status=COMPLETED, text="keep me")
    response = admin_client.post(
        "/admin/transcripts/transcript/",
        {"action": "retry", "_selected_action": [str(t.id), str(done.id)]},
        follow=True,
    )
    assert "Retrying 1 transcript(s)." in response.content.decode()
    t.refresh_from_db()
    done.refresh_from_db()
    assert t.status == COMPLETED and "fox" in t.text.lower()
    assert done.text == "keep me"
