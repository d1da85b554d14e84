"""A user sees and changes only their own transcripts; anything else answers 404."""

from __future__ import annotations

import pytest

from transcripts.models import COMPLETED, FAILED, Transcript

pytestmark = pytest.mark.django_db


@pytest.fixture
def bobs(bob, settings) -> Transcript:
    path = settings.MEDIA_ROOT / "audio/x/bob.mp3"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"ID3")
    return Transcript.objects.create(
        owner=bob,
        title="Bob's secret board meeting",
        status=COMPLETED,
        audio="audio/x/bob.mp3",
        text="acquisition of widgets",
        segments=[{"start": 0, "end": 1, "text": "acquisition of widgets"}],
    )


GETS = [
    "/t/{id}/",
    "/t/{id}/status/",
    "/t/{id}/audio/",
    "/t/{id}/edit/",
    "/t/{id}/export.txt",
    "/t/{id}/export.json",
]
POSTS = ["/t/{id}/retry/", "/t/{id}/delete/", "/t/{id}/edit/"]


@pytest.mark.parametrize("url", GETS)
def test_someone_elses_transcript_answers_404(alice_client, bobs, url):
    assert alice_client.get(url.format(id=bobs.id)).status_code == 404


@pytest.mark.parametrize("url", POSTS)
def test_someone_elses_transcript_cannot_be_changed(alice_client, bobs, settings, url):
    bobs.status = FAILED
    bobs.save()
    response = alice_client.post(url.format(id=bobs.id), {"seg-0": "hacked"})
    assert response.status_code == 404
    bobs.refresh_from_db()
    assert bobs.status == FAILED and bobs.text == "acquisition of widgets"
    assert (settings.MEDIA_ROOT / "audio/x/bob.mp3").exists()


def test_the_list_and_search_show_only_my_transcripts(alice_client, alice, bobs):
    Transcript.objects.create(owner=alice, title="Alice's standup", status=COMPLETED, text="widgets too")
    body = alice_client.get("/").content.decode()
    assert "Alice&#x27;s standup" in body and "secret board" not in body
    body = alice_client.get("/?q=widgets").content.decode()
    assert "Alice&#x27;s standup" in body and "secret board" not in body


def test_an_unknown_id_answers_404(alice_client):
    assert alice_client.get("/t/00000000-0000-0000-0000-000000000000/").status_code == 404


@pytest.mark.parametrize("url", ["/", "/upload/", "/t/00000000-0000-0000-0000-000000000000/"])
def test_every_page_requires_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_sign_up_sign_in_and_sign_out(client, db):
    response = client.post(
        "/accounts/signup/",
        {"username": "carol", "password1": "a long passphrase 9", "password2": "a long passphrase 9"},
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302
    response = client.post("/accounts/login/", {"username": "carol", "password": "a long passphrase 9"})
    assert response.status_code == 302 and response["Location"] == "/"
    response = client.post("/accounts/login/", {"username": "carol", "password": "wrong"})
    assert response.status_code == 200 and "correct username and password" in response.content.decode()
