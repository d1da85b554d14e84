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
from workers.speech.speakers import SpeakerCount, SpeakersError

from .forms import LANGUAGES, speakers_unavailable
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


@login_required
@require_POST
def direct_upload_start(request):
    _require_s3()
    name = request.POST.get("name", "").strip()
    size = request.POST.get("size", "")
    if not name:
        return _error("Choose a file to upload.")
    max_bytes = settings.MAX_UPLOAD_MB * 2**20
    if size.isdigit() and int(size) > max_bytes:
        return _error(f"The file is too large; the limit is {settings.MAX_UPLOAD_MB} MB.", 413)
    transcript_id = uuid.uuid4()
    key = audio_key(transcript_id, name)
    post = store.presigned_post(
        key,
        max_bytes=max_bytes,
        expires=settings.PRESIGNED_UPLOAD_SECONDS,
        tags={"transcript-id": str(transcript_id)},
    )
    token = signing.dumps(
        {"id": str(transcript_id), "key": key, "user": request.user.pk, "name": name}, salt=SALT
    )
    return JsonResponse({"url": post["url"], "fields": post["fields"], "key": key, "token": token})


@login_required
@require_POST
def direct_upload_register(request):
    _require_s3()
    try:
        issued = signing.loads(request.POST.get("token", ""), salt=SALT, max_age=REGISTER_MAX_AGE)
    except signing.SignatureExpired:
        return _error("This upload has expired; upload the file again.")
    except signing.BadSignature:
        return _error("This upload was not issued by this site.")
    if issued["user"] != request.user.pk:
        return _error("This upload was issued to someone else.", 403)
    existing = Transcript.objects.filter(id=issued["id"]).first()
    if existing is not None:  # a second click on the same upload
        if existing.owner_id != request.user.pk:
            return _error("This upload was issued to someone else.", 403)
        return _registered(existing, status=200)
    info = store.head(issued["key"])
    if info is None:
        return _error("The file did not reach storage; upload it again.")
    speakers = ""
    if request.POST.get("label_speakers") in ("on", "true", "1"):
        try:
            speakers = str(SpeakerCount.parse(request.POST.get("speaker_count")))
        except SpeakersError as exc:
            return _error(str(exc))
        if problem := speakers_unavailable():
            return _error(problem)
    language = request.POST.get("language", "")
    transcript = Transcript.objects.create(
        id=issued["id"],
        owner=request.user,
        title=(request.POST.get("title", "").strip() or title_from_name(issued["name"]))[:200],
        audio=issued["key"],
        original_name=issued["name"][:300],
        size_bytes=info["size"],
        language_hint=language if language in dict(LANGUAGES) else "",
        word_timestamps=request.POST.get("word_timestamps") in ("on", "true", "1"),
        speakers_asked=speakers,
    )
    # S3 stores the tag from the POST's `tagging` field; set it again in case a
    # client left the field out (the policy refuses that, but moto does not).
    store.set_tags(transcript.audio.name, {"transcript-id": str(transcript.id)})
    return _registered(transcript, status=201)


def _registered(transcript: Transcript, *, status: int) -> JsonResponse:
    return JsonResponse(
        {"id": str(transcript.id), "url": transcript.get_absolute_url(), "status": transcript.status},
        status=status,
    )
