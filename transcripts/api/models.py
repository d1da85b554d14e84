"""API keys and webhooks. Imported by transcripts/models.py so Django registers them."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F
from django.utils import timezone

KEY_PREFIX = "mn_"


def hash_key(key: str) -> str:
    # Keys are 32 random bytes: a fast hash is enough, there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True, owner__is_active=True)

    def authenticate(self, key: str) -> ApiKey | None:
        if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        return self.active().select_related("owner").filter(hashed=hash_key(key)).first()


class ApiKey(models.Model):
    """A user's key for the APIs. Only its hash is stored; `prefix` (the start of
    the key) names it in lists and logs, as GitHub's token prefixes do."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    hashed = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A fixed one-minute window per key, counted in the row: no cache or extra service,
    # and it holds across Lambda instances.
    window_start = models.BigIntegerField(default=0)
    window_count = models.PositiveIntegerField(default=0)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @classmethod
    def issue(cls, owner, name: str = "") -> tuple[ApiKey, str]:
        """A new key: the row, and the key itself, which is shown once and never stored."""
        prefix = KEY_PREFIX + secrets.token_hex(4)
        key = f"{prefix}_{secrets.token_urlsafe(32)}"
        row = cls.objects.create(owner=owner, name=name.strip()[:100], prefix=prefix, hashed=hash_key(key))
        return row, key

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> bool:
        return bool(
            ApiKey.objects.filter(id=self.id, revoked_at__isnull=True).update(revoked_at=timezone.now())
        )

    def take(self, limit: int, window: int = 60) -> int:
        """Count one request. 0 when allowed, else the seconds until the window resets."""
        now = time.time()
        current = int(now // window) * window
        rows = ApiKey.objects.filter(id=self.id)
        if rows.filter(window_start=current, window_count__lt=limit).update(
            window_count=F("window_count") + 1, last_used_at=timezone.now()
        ):
            return 0
        if rows.exclude(window_start=current).update(
            window_start=current, window_count=1, last_used_at=timezone.now()
        ):
            return 0
        return max(1, int(current + window - now + 0.999))


class WebhookEndpoint(models.Model):
    """Where events go. `transcript` empty: every transcript of the owner (registered
    in settings); set: one transcript's `callback_url` from a REST request."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=80)
    transcript = models.ForeignKey(
        "transcripts.Transcript", null=True, blank=True, on_delete=models.CASCADE, related_name="callbacks"
    )
    # Where the event's links point: the site as the registering request saw it.
    base_url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    @classmethod
    def new_secret(cls) -> str:
        return "whsec_" + secrets.token_urlsafe(32)


PENDING, SENDING, DELIVERED, GAVE_UP = "pending", "sending", "delivered", "failed"
DELIVERY_STATUSES = (
    (PENDING, "Pending"),
    (SENDING, "Sending"),
    (DELIVERED, "Delivered"),
    (GAVE_UP, "Failed"),
)


class WebhookDelivery(models.Model):
    """One event for one endpoint, and how its delivery went. Unique per (endpoint,
    transcript, event): a duplicate trigger finds the row and sends nothing more."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    transcript_id = models.UUIDField()
    event = models.CharField(max_length=40)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=DELIVERY_STATUSES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # While sending: when the sender's claim runs out. It is renewed at each attempt;
    # past it a sweep takes the delivery over, so a sender that died does not leave it
    # "sending" forever.
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "transcript_id", "event"], name="webhook_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.transcript_id} → {self.endpoint_id}"
