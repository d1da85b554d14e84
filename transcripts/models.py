from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from . import storage as store
from .keys import AUDIO_PREFIX, audio_key, id_from_key, transcript_key, work_prefix

if TYPE_CHECKING:
    from workers.speech.engines import TranscribeOptions, TranscriptionResult

log = logging.getLogger(__name__)

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

UNEXPECTED = (
    "Transcription failed because of an unexpected error on our side. "
    "Retry, and if it fails again, check the server log."
)

SOURCES = (
    ("web", "Web upload"),
    ("cli", "Command line"),
    ("drop", "S3 drop"),
    ("import", "Imported text"),
    ("api", "API"),
)
# Sent once when a row first reaches completed or failed (webhooks listen).
transcript_finished = Signal()
# Sent by every stale-row sweep (the Lambda schedule, the local worker, `transcribe --recover`),
# so other work whose process may die (webhook deliveries) is recovered on the same beat
# without the pipeline importing the API.
stale_sweep = Signal()


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

    def next_lease_expiry(self):
        """When the next lease of a queued or processing row runs out (None if none will)."""
        return self.filter(status__in=(QUEUED, PROCESSING)).aggregate(at=models.Min("lease_expires_at"))["at"]

    def requeue_stale(self) -> list[str]:
        """Put rows whose worker vanished back in the queue, and fail those interrupted
        TRANSCRIBE_MAX_ATTEMPTS times. Returns the ids to dispatch again."""
        recovered = []
        now = timezone.now()
        for t in self.stale().only("id", "status", "attempts"):
            # Conditional on still being stale: a worker may renew or finish it meanwhile.
            stale = Transcript.objects.stale().filter(id=t.id, status=t.status)
            if t.status == PROCESSING and t.attempts >= settings.TRANSCRIBE_MAX_ATTEMPTS:
                reason = (
                    f"Transcription was interrupted {t.attempts} times "
                    "(the worker stopped or timed out). Retry to try again."
                )
                fields = dict(status=FAILED, error=reason, lease_expires_at=None, updated_at=now)
                if stale.update(**fields):
                    # Only the sweep that moved the row announces it: the same tags and
                    # transcript_finished (webhooks) as any other failure.
                    Transcript.objects.get(id=t.id).announce_failure(reason)
                continue
            lease = now + timedelta(seconds=settings.TRANSCRIBE_LEASE_SECONDS)
            if stale.update(status=QUEUED, lease_expires_at=lease):
                recovered.append(str(t.id))
        return recovered


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
    # Speaker labels asked for at upload: "" none, "auto", "2", "2-4" (SpeakerCount's text).
    speakers_asked = models.CharField(max_length=16, blank=True)

    language = models.CharField(max_length=16, blank=True)
    # Every language found -> the model's confidence (null where the language was given).
    languages = models.JSONField(default=dict, blank=True)
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

    def fail(self, reason: str) -> bool:
        """Record a failure a person can read, on the row and on the audio's tags;
        a row already completed stays completed."""
        now = timezone.now()
        fields = dict(status=FAILED, error=reason[:2000], lease_expires_at=None, updated_at=now)
        rows = Transcript.objects.filter(id=self.id)
        if not rows.exclude(status__in=(COMPLETED, FAILED)).update(**fields):
            return bool(rows.filter(status=FAILED).update(**fields))  # a newer reason for a failed row
        self.status, self.error = FAILED, fields["error"]
        self.announce_failure(reason)
        return True

    def announce_failure(self, reason: str) -> None:
        """What follows a row's move to failed, by whichever path moved it: the log,
        the audio's tags, and transcript_finished (webhooks). Call once per move."""
        log.warning("transcript %s failed: %s", self.id, reason)
        try:
            self.tag({"status": "failed", "reason": reason})
        except Exception:  # the row says it already; a tag is a convenience
            log.exception("could not tag %s", self.audio.name)
        transcript_finished.send(sender=Transcript, transcript=self)

    def transcribe_options(self) -> TranscribeOptions:
        """What the engine is asked: this upload's choices plus its owner's vocabulary
        (faster-whisper's hotwords, and with the upload's prompt the initial prompt)."""
        from workers.speech.engines import TranscribeOptions

        words = UserSettings.vocabulary_of(self.owner_id)
        prompt = " ".join(p for p in (", ".join(words) + "." if words else "", self.prompt.strip()) if p)
        return TranscribeOptions(
            language=self.language_hint or None,
            word_timestamps=self.word_timestamps,
            task=self.task or TRANSCRIBE,
            prompt=prompt or None,
            hotwords=", ".join(words) or None,
            speakers=self.speaker_count,
        )

    def tag(self, tags: dict[str, str]) -> None:
        """Merge `tags` into the audio object's tags (S3 only), always naming the transcript."""
        store.set_tags(self.audio.name, {"transcript-id": str(self.id), **tags})

    def store_result(self, result: TranscriptionResult) -> None:
        """Write transcripts/<uuid>.json. On S3 its ObjectCreated event runs
        `record_result`; locally we call it here, so both modes record a result alike."""
        key = transcript_key(self.id)
        doc = {"id": str(self.id), "source_key": self.audio.name, **result.to_dict()}
        metadata = {"transcript-id": str(self.id), "source-key": quote_plus(self.audio.name)}
        store.put_json(key, doc, metadata)
        if not store.on_s3():
            record_result(key)

    def requeue(self, *, from_statuses: tuple[str, ...] = (FAILED,)) -> bool:
        """Put the row back in the queue (Retry); only from the given states."""
        now = timezone.now()
        lease = now + timedelta(seconds=settings.TRANSCRIBE_LEASE_SECONDS)
        return bool(
            Transcript.objects.filter(id=self.id, status__in=from_statuses).update(
                status=QUEUED, error="", progress=0.0, lease_expires_at=lease, updated_at=now
            )
        )

    def report_progress(self, progress: float) -> None:
        Transcript.objects.filter(id=self.id, status=PROCESSING).update(
            progress=round(progress, 4), updated_at=timezone.now()
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
        if changed:
            transcript_finished.send(sender=Transcript, transcript=self)
        return bool(changed)

    @property
    def found_languages(self) -> list[tuple[str, str, float | None]]:
        """(code, name, the model's confidence or None) for each language found, main first."""
        from workers.speech.languages import name

        found = self.languages or ({self.language: None} if self.language else {})
        return [(code, name(code), p) for code, p in found.items()]

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

    def delete(self, *args, **kwargs):
        """The row goes first, then every file of it: a worker that writes after
        this finds the row gone and removes what it wrote (forget_if_deleted)."""
        transcript_id, audio_name = self.id, self.audio.name
        deleted = super().delete(*args, **kwargs)
        delete_stored(transcript_id, audio_name)
        return deleted

    def delete_files(self) -> None:
        delete_stored(self.id, self.audio.name)


def delete_stored(transcript_id, audio_name: str) -> None:
    """Remove everything of a transcript from storage: its audio (and, for uploads,
    the audio's folder) and whatever a worker wrote."""
    folder = f"{AUDIO_PREFIX}{transcript_id}/"
    if audio_name.startswith(folder):
        store.delete_prefix(folder)
    elif audio_name:
        store.delete(audio_name)
    delete_outputs(transcript_id)


def delete_outputs(transcript_id) -> None:
    """What workers write for a transcript: its result and the parts of long audio."""
    store.delete(transcript_key(transcript_id))
    store.delete_prefix(work_prefix(transcript_id))


def forget_if_deleted(transcript_id) -> None:
    """After a worker's turn: if the transcript was deleted meanwhile, remove what the worker wrote since."""
    if not Transcript.objects.filter(id=transcript_id).exists():
        delete_outputs(transcript_id)


def record_result(key: str) -> Transcript | None:
    """The result document `key` exists: complete its row and tag its audio. Idempotent.
    A result whose transcript was deleted meanwhile is deleted too."""
    transcript_id = id_from_key(key)
    if transcript_id is None:
        log.warning("ignoring %s: not a transcripts/<uuid>.json key", key)
        return None
    transcript = Transcript.objects.filter(id=transcript_id).first()
    if transcript is None:
        log.info("deleting %s: its transcript is gone", key)
        delete_outputs(transcript_id)
        return None
    data = store.get_json(key)
    if data is None:  # an event for a document that is gone: retrying cannot help
        raise FileNotFoundError(f"{key}: no such result document")
    transcript.apply_result(data)
    transcript.tag(
        {
            "status": "completed",
            "transcript-key": key,
            "language": transcript.language or "unknown",
            "duration": f"{transcript.duration or 0:.1f}",
        }
    )
    return transcript


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


from .api.models import ApiKey, WebhookDelivery, WebhookEndpoint  # noqa: E402,F401 - registers the API's models
