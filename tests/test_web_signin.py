"""Signup refuses guessable passwords; sign-in is throttled per account and per
address, refusing even the right password while throttled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.utils import timezone

pytestmark = pytest.mark.django_db

GOOD = "correct horse 1"  # alice's password (conftest)


def _sign_up(client, username: str, password: str):
    return client.post(
        "/accounts/signup/", {"username": username, "password1": password, "password2": password}
    )


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        ("erin", "83920174", "entirely numeric"),
        ("dave77", "dave7777", "too similar to the username"),
        ("frank", "Summer2026", "common word with digits or symbols added"),
        ("gina", "password!", "too common"),
        ("hank", "xk3#q", "too short"),
    ],
)
def test_signup_refuses_guessable_passwords(client, username, password, reason):
    response = _sign_up(client, username, password)
    assert response.status_code == 200
    assert reason in response.content.decode()
    assert not User.objects.filter(username=username).exists()


def test_signup_accepts_a_good_password_and_signs_in(client):
    response = _sign_up(client, "ivy", "violet tram 1986 keys")
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def _sign_in(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def _fail(client, times: int, username: str = "alice", addresses=("203.0.113.7",)):
    """Wrong passwords; the one that reaches the limit is already answered as throttled."""
    for i in range(times):
        response = _sign_in(client, username, f"wrong {i}", addresses[i % len(addresses)])
        assert response.status_code in (200, 429)
        if response.status_code == 200:
            assert "correct username and password" in response.content.decode()


def test_the_right_password_still_works_below_the_limit(client, alice, settings):
    _fail(client, settings.AXES_FAILURE_LIMIT - 1)
    assert _sign_in(client, "alice", GOOD).status_code == 302


def test_an_account_is_throttled_from_any_address_even_with_the_right_password(client, alice, settings):
    _fail(client, settings.AXES_FAILURE_LIMIT, addresses=("198.51.100.1", "198.51.100.2", "198.51.100.3"))
    response = _sign_in(client, "alice", GOOD, address="192.0.2.99")
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed sign-in attempts" in body and "15 minutes" in body
    assert client.get("/").status_code == 302  # not signed in


def test_an_address_is_throttled_across_accounts(client, alice, bob, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, 1, username=f"guess{i}")
    assert _sign_in(client, "bob", "battery staple 2").status_code == 429
    # Bob himself, from his own address, is not locked out by someone else's guessing.
    assert _sign_in(client, "bob", "battery staple 2", address="192.0.2.50").status_code == 302


def test_sign_in_works_again_after_the_cool_off(client, alice, settings):
    _fail(client, settings.AXES_FAILURE_LIMIT)
    assert _sign_in(client, "alice", GOOD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert _sign_in(client, "alice", GOOD).status_code == 302
