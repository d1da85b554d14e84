from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from .keys import audio_key, transcript_key

UPLOADED = "uploaded"
QUEUED = "queued"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
STATUSES = (
    (UPLOADED, "Uploaded"),
    (QUEUED, "Queued"),
    (PROCESSING, "Processing"),
    (COMPLETED, "Completed"),
    (FAILED, "Failed"),
)
ACTIVE = (UPLOADED, QUEUED, PROCESSING)

TRANSCRIBE = "transcribe"
TRANSLATE = "translate"
TASKS = ((TRANSCRIBE, "Transcribe"), (TRANSLATE, "Translate to English"))

SOURCES = (("web", "Web upload"), ("cli", "Command line"), ("drop", "S3 drop"), ("import", "Imported text"))


def _upload_to(instance: Transcript, filename: str) -> str:
    return audio_key(instance.id, filename)


class TranscriptQuerySet(models.QuerySet):
    def for_user(self, user) -> TranscriptQuerySet:
        return self.filter(owner=user)

    def claim(self, transcript_id, lease_seconds: int) -> bool:
        """Move one row to processing if nobody else has: the caller that gets
        True is the only one that runs the engine for it."""
        now = timezone.now()
        return bool(
            self.filter(id=transcript_id, status__in=(UPLOADED, QUEUED)).update(
                status=PROCESSING,
                attempts=F("attempts") + 1,
                progress=0.0,
                error="",
                started_at=now,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
        )

    def stale(self):
        """Rows whose worker is gone: a lease ran out while queued or processing."""
        return self.filter(
            status__in=(QUEUED, PROCESSING), lease_expires_at__lt=timezone.now()
        ) | self.filter(status=QUEUED, lease_expires_at__isnull=True)


class Transcript(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="transcripts")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=STATUSES, default=UPLOADED, db_index=True)
    source = models.CharField(max_length=8, choices=SOURCES, default="web")
    audio = models.FileField(upload_to=_upload_to, max_length=300, blank=True)
    original_name = models.CharField(max_length=300, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    language_hint = models.CharField(max_length=16, blank=True)
    word_timestamps = models.BooleanField(default=False)
    task = models.CharField(max_length=16, choices=TASKS, default=TRANSCRIBE)
    prompt = models.TextField(blank=True, help_text="Names, jargon, spelling: passed to the engine.")

    language = models.CharField(max_length=16, blank=True)
    # Every language found -> the model's confidence (null where the language was given).
    languages = models.JSONField(default=dict, blank=True)
    duration = models.FloatField(null=True, blank=True)
    text = models.TextField(blank=True)
    segments = models.JSONField(default=list, blank=True)
    timestamps = models.BooleanField(default=True)
    engine = models.CharField(max_length=16, blank=True)
    model = models.CharField(max_length=100, blank=True)
    result_key = models.CharField(max_length=300, blank=True)
    processing_seconds = models.FloatField(null=True, blank=True)
    reference_text = models.TextField(blank=True)
    word_error_rate = models.FloatField(null=True, blank=True)
    edited = models.BooleanField(default=False)

    error = models.TextField(blank=True)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TranscriptQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="transcript_owner_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s for s, _ in STATUSES]), name="transcript_status_valid"
            )
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("transcript_detail", args=[self.id])

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def expected_result_key(self) -> str:
        return transcript_key(self.id)

    def fail(self, reason: str) -> bool:
        """Record a failure a person can read; a row already completed stays completed."""
        now = timezone.now()
        return bool(
            Transcript.objects.filter(id=self.id)
            .exclude(status=COMPLETED)
            .update(status=FAILED, error=reason[:2000], lease_expires_at=None, updated_at=now)
        )

    def requeue(self, *, from_statuses: tuple[str, ...] = (FAILED,)) -> bool:
        """Put the row back in the queue (Retry); only from the given states."""
        now = timezone.now()
        lease = now + timedelta(seconds=settings.TRANSCRIBE_LEASE_SECONDS)
        return bool(
            Transcript.objects.filter(id=self.id, status__in=from_statuses).update(
                status=QUEUED, error="", progress=0.0, lease_expires_at=lease, updated_at=now
            )
        )

    def heartbeat(self, progress: float) -> None:
        now = timezone.now()
        lease = now + timedelta(seconds=settings.TRANSCRIBE_LEASE_SECONDS)
        Transcript.objects.filter(id=self.id, status=PROCESSING).update(
            progress=round(progress, 4), lease_expires_at=lease, updated_at=now
        )

    def apply_result(self, data: dict) -> bool:
        """Store a finished result (the transcripts/<id>.json document). Idempotent."""
        from .wer import word_error_rate

        now = timezone.now()
        fields = dict(
            status=COMPLETED,
            text=data.get("text", ""),
            language=data.get("language") or "",
            languages=data.get("languages") or {},
            duration=data.get("duration"),
            segments=data.get("segments", []),
            timestamps=data.get("timestamps", True),
            engine=data.get("engine", ""),
            model=data.get("model", ""),
            processing_seconds=(data.get("timings") or {}).get("total"),
            result_key=transcript_key(self.id),
            error="",
            progress=1.0,
            lease_expires_at=None,
            updated_at=now,
        )
        if self.reference_text:
            fields["word_error_rate"] = word_error_rate(self.reference_text, fields["text"])
        changed = (
            Transcript.objects.filter(id=self.id).exclude(status=COMPLETED).update(completed_at=now, **fields)
        )
        for k, v in fields.items():
            setattr(self, k, v)
        return bool(changed)

    @property
    def found_languages(self) -> list[tuple[str, str, float | None]]:
        """(code, name, the model's confidence or None) for each language found, main first."""
        from workers.speech.languages import name

        found = self.languages or ({self.language: None} if self.language else {})
        return [(code, name(code), p) for code, p in found.items()]

    def transcribe_options(self):
        """What the engine is asked: this upload's choices plus its owner's vocabulary."""
        from workers.speech.engines import TranscribeOptions

        words = UserSettings.vocabulary_of(self.owner_id)
        prompt = " ".join(p for p in (", ".join(words) + "." if words else "", self.prompt.strip()) if p)
        return TranscribeOptions(
            language=self.language_hint or None,
            word_timestamps=self.word_timestamps,
            task=self.task or TRANSCRIBE,
            prompt=prompt or None,
            hotwords=", ".join(words) or None,
        )

    def delete_files(self) -> None:
        from django.core.files.storage import default_storage

        from transcripts import storage as store
        from workers.speech.parts import work_prefix

        for key in (self.audio.name, self.result_key or transcript_key(self.id)):
            if key and default_storage.exists(key):
                default_storage.delete(key)
        store.delete_prefix(work_prefix(self.id))  # parts of long audio left by a failed run


class UserSettings(models.Model):
    """Per-user preferences; `vocabulary` holds the words every upload should expect, one per line."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    vocabulary = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"settings of {self.user}"

    @property
    def words(self) -> list[str]:
        return [w.strip() for w in self.vocabulary.splitlines() if w.strip()]

    @classmethod
    def vocabulary_of(cls, user_id) -> list[str]:
        found = cls.objects.filter(user_id=user_id).first()
        return found.words if found else []
