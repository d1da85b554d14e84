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
    # Speaker labels asked for at upload: "" none, "auto", "2", "2-4" (SpeakerCount's text).
    speakers_asked = models.CharField(max_length=16, blank=True)

    language = models.CharField(max_length=16, blank=True)
    duration = models.FloatField(null=True, blank=True)
    text = models.TextField(blank=True)
    segments = models.JSONField(default=list, blank=True)
    # Speaker id -> display name, e.g. {"S1": "Interviewer", "S2": "Speaker 2"}; the user renames here.
    speakers = models.JSONField(default=dict, blank=True)
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
            duration=data.get("duration"),
            segments=data.get("segments", []),
            speakers=data.get("speakers") or {},
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
    def speaker_count(self):
        """The SpeakerCount asked for at upload, or None where no speaker labels were asked."""
        from workers.speech.speakers import SpeakerCount

        return SpeakerCount.parse(self.speakers_asked) if self.speakers_asked else None

    def rename_speakers(self, names: dict[str, str]) -> None:
        """New display names for known speaker ids; one place, so the page, search and exports agree."""
        from workers.speech.speakers import default_name

        self.speakers = {sid: (names.get(sid) or "").strip() or default_name(sid) for sid in self.speakers}
        self.save(update_fields=["speakers", "updated_at"])

    def delete_files(self) -> None:
        from django.core.files.storage import default_storage

        from transcripts import storage as store
        from workers.speech.parts import work_prefix

        for key in (self.audio.name, self.result_key or transcript_key(self.id)):
            if key and default_storage.exists(key):
                default_storage.delete(key)
        store.delete_prefix(work_prefix(self.id))  # parts of long audio left by a failed run
