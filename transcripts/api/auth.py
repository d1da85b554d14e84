"""Bearer API keys, shared by both APIs: each API wraps the outcome in its own error shape."""

from __future__ import annotations

from django.conf import settings

from .models import ApiKey


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"Too many requests for this API key; retry in {retry_after} s.")
        self.retry_after = retry_after


def bearer_token(request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def authenticate(request, token: str | None = None) -> ApiKey | None:
    """The key a request carries, counted against its rate limit (RateLimited when over).
    Sets request.user to the key's owner, so ownership checks read as in the views."""
    key = ApiKey.objects.authenticate(bearer_token(request) if token is None else token)
    if key is None:
        return None
    wait = key.take(settings.API_RATE_LIMIT_PER_MINUTE)
    if wait:
        raise RateLimited(wait)
    request.user = key.owner
    request.api_key = key
    return key
