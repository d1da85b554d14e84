"""API keys: the settings page and `manage.py apikey`."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from transcripts.api.models import ApiKey, hash_key


def run(*args) -> str:
    out = io.StringIO()
    call_command("apikey", *args, stdout=out)
    return out.getvalue()


def works(key: str) -> bool:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}").get("/api/v1/transcripts").status_code == 200


@pytest.mark.django_db
def test_create_prints_the_key_and_nothing_else(alice):
    out = run("create", "alice", "--name", "backup script")
    key = out.strip()
    assert out == key + "\n" and key.startswith("mn_") and works(key)
    row = ApiKey.objects.get()
    assert (row.owner, row.name, row.hashed) == (alice, "backup script", hash_key(key))


@pytest.mark.django_db
def test_list_and_revoke(alice, bob):
    alices = run("create", "alice").strip()
    bobs = run("create", "bob", "--name", "ci").strip()
    listing = run("list")
    assert alices[:11] in listing and bobs[:11] in listing and alices not in listing  # prefixes only
    assert bobs[:11] not in run("list", "alice")
    assert run("revoke", alices[:11]).startswith("Revoked " + alices[:11])
    assert not works(alices) and works(bobs)
    assert "revoked" in run("list", "alice")
    with pytest.raises(CommandError, match="already revoked"):
        run("revoke", alices)
    with pytest.raises(CommandError, match="No key"):
        run("revoke", "mn_00000000")
    with pytest.raises(CommandError, match="No user"):
        run("create", "carol")


@pytest.mark.django_db
def test_the_settings_page_creates_shows_once_lists_and_revokes(alice_client, alice, bob):
    page = alice_client.post("/settings/api/", {"key-name": "Open WebUI"})
    key = page.context["shown"]["key"]
    assert key in page.content.decode() and works(key)
    again = alice_client.get("/settings/api/").content.decode()
    assert key not in again and key[:11] in again and "Open WebUI" in again  # shown once, then by prefix
    row = ApiKey.objects.get(owner=alice)
    bobs_row, _ = ApiKey.issue(bob)
    assert alice_client.post(f"/settings/api/keys/{bobs_row.id}/revoke/").status_code == 404
    assert alice_client.post(f"/settings/api/keys/{row.id}/revoke/").status_code == 302
    assert not works(key)
    assert Client().get("/settings/api/").status_code == 302  # sign-in first


@pytest.mark.django_db
def test_the_nav_links_to_the_api_settings(alice_client):
    assert 'href="/settings/api/"' in alice_client.get("/").content.decode()
