"""Uploads that go browser → S3, never through API Gateway and Lambda (which
refuse requests over about 6 MB).

1. `direct_upload_start` fixes the key `audio/<new uuid>/<sanitised name>` and
   returns a presigned POST for exactly that key, capped at MAX_UPLOAD_MB, valid
   for PRESIGNED_UPLOAD_SECONDS, plus a signed token naming the key and the user.
2. The browser POSTs the file to S3.
3. `direct_upload_register` checks the token and that the object is there,
   then creates the row; the post_save signal dispatches it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404, JsonResponse
from django.views.decorators.http import require_POST

from transcripts import storage as store
from workers.speech import models

from .capabilities import model_info
from .forms import MAX_PROMPT_CHARS
from .keys import audio_key, title_from_name
from .models import Transcript

SALT = "transcripts.direct_upload"
# Uploading 500 MB over a slow line takes a while: the token outlives the
# presigned POST, which only has to be valid when the upload starts.
REGISTER_MAX_AGE = 6 * 3600


def storage_context(request) -> dict:
    """Template context: whether the upload page should load direct_upload.js."""
    return {
        "direct_upload": bool(settings.TRANSCRIPTS_BUCKET),
        "direct_upload_min_bytes": settings.DIRECT_UPLOAD_MIN_BYTES,
    }


def _require_s3() -> None:
    if not settings.TRANSCRIPTS_BUCKET:
        raise Http404("Direct uploads need S3 storage (TRANSCRIPTS_BUCKET).")


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


class UploadRefused(Exception):
    """A direct upload that cannot go on, with the message and HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def issue(user, name: str, size: str | int | None) -> dict:
    """A presigned POST for `audio/<new uuid>/<name>` and the token that registers it."""
    _require_s3()
    name = (name or "").strip()
    if not name:
        raise UploadRefused("Choose a file to upload.")
    max_bytes = settings.MAX_UPLOAD_MB * 2**20
    if str(size or "").isdigit() and int(size) > max_bytes:
        raise UploadRefused(f"The file is too large; the limit is {settings.MAX_UPLOAD_MB} MB.", 413)
    transcript_id = uuid.uuid4()
    key = audio_key(transcript_id, name)
    post = store.presigned_post(
        key,
        max_bytes=max_bytes,
        expires=settings.PRESIGNED_UPLOAD_SECONDS,
        tags={"transcript-id": str(transcript_id)},
    )
    token = signing.dumps({"id": str(transcript_id), "key": key, "user": user.pk, "name": name}, salt=SALT)
    return {"url": post["url"], "fields": post["fields"], "key": key, "token": token}


def register(
    user,
    token: str,
    *,
    title: str = "",
    language: str = "",
    word_timestamps: bool = False,
    task: str = "transcribe",
    prompt: str = "",
):
    """The row for an upload that reached storage: (transcript, created). A second
    call with the same token finds the first row instead of making another. A
    language or task the model lacks is refused, as the upload form refuses it."""
    _require_s3()
    try:
        issued = signing.loads(token or "", salt=SALT, max_age=REGISTER_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise UploadRefused("This upload has expired; upload the file again.") from exc
    except signing.BadSignature as exc:
        raise UploadRefused("This upload was not issued by this site.") from exc
    if issued["user"] != user.pk:
        raise UploadRefused("This upload was issued to someone else.", 403)
    existing = Transcript.objects.filter(id=issued["id"]).first()
    if existing is not None:  # a second click on the same upload
        if existing.owner_id != user.pk:
            raise UploadRefused("This upload was issued to someone else.", 403)
        return existing, False
    try:  # the form offers only what the model can do; anything else is refused, not dropped
        models.check(model_info(), language or None, task)
    except models.ModelError as exc:
        raise UploadRefused(str(exc)) from exc
    info = store.head(issued["key"])
    if info is None:
        raise UploadRefused("The file did not reach storage; upload it again.")
    transcript = Transcript.objects.create(
        id=issued["id"],
        owner=user,
        title=((title or "").strip() or title_from_name(issued["name"]))[:200],
        audio=issued["key"],
        original_name=issued["name"][:300],
        size_bytes=info["size"],
        language_hint=language,
        task=task,
        prompt=(prompt or "").strip()[:MAX_PROMPT_CHARS],
        word_timestamps=word_timestamps,
    )
    # S3 stores the tag from the POST's `tagging` field; set it again in case a
    # client left the field out (the policy refuses that, but moto does not).
    store.set_tags(transcript.audio.name, {"transcript-id": str(transcript.id)})
    return transcript, True


@login_required
@require_POST
def direct_upload_start(request):
    try:
        return JsonResponse(issue(request.user, request.POST.get("name", ""), request.POST.get("size", "")))
    except UploadRefused as exc:
        return _error(str(exc), exc.status)


@login_required
@require_POST
def direct_upload_register(request):
    try:
        transcript, created = register(
            request.user,
            request.POST.get("token", ""),
            title=request.POST.get("title", ""),
            language=request.POST.get("language", ""),
            word_timestamps=request.POST.get("word_timestamps") in ("on", "true", "1"),
            task="translate" if request.POST.get("translate") in ("on", "true", "1") else "transcribe",
            prompt=request.POST.get("prompt", ""),
        )
    except UploadRefused as exc:
        return _error(str(exc), exc.status)
    return _registered(transcript, status=201 if created else 200)


def _registered(transcript: Transcript, *, status: int) -> JsonResponse:
    return JsonResponse(
        {"id": str(transcript.id), "url": transcript.get_absolute_url(), "status": transcript.status},
        status=status,
    )
