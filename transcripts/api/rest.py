"""The REST API under /api/v1/, built with django-ninja: plain functions with
decorators, as the views are, and an OpenAPI document generated from the same
type hints that validate the requests (/api/v1/openapi.json, docs at /api/v1/docs).

Every error is `{"error": {"code", "message", "fields"}}`; see `error()`.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from functools import wraps
from typing import Literal
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Field, File, Form, NinjaAPI, Query, Schema, UploadedFile
from ninja.decorators import decorate_view
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.responses import Status
from ninja.security import HttpBearer
from pydantic import field_validator

from transcripts import direct_upload, exports
from transcripts.forms import UploadForm, too_large_message
from transcripts.models import COMPLETED, FAILED, STATUSES, Transcript
from transcripts.pipeline.dispatch import dispatch

from . import payloads, webhooks
from .auth import RateLimited, authenticate

log = logging.getLogger(__name__)


class KeyAuth(HttpBearer):
    def authenticate(self, request, token):
        return authenticate(request, token)


api = NinjaAPI(
    title="Meeting Noter API",
    version="1",
    description="Transcripts for programs. Authenticate with `Authorization: Bearer <API key>` "
    "(create a key under Settings → API keys, or `manage.py apikey create USERNAME`).",
    auth=KeyAuth(),
    urls_namespace="api_v1",
)


# Errors -------------------------------------------------------------------------------


class ErrorBody(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] = {}


class ErrorOut(Schema):
    error: ErrorBody


def error(code: str, message: str, status: int, fields: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)


def errors(*statuses: int) -> dict:
    return {s: ErrorOut for s in (400, 401, 429, *statuses)}


@api.exception_handler(AuthenticationError)
def _unauthorised(request, exc):
    response = error("unauthorized", "Send a valid API key as `Authorization: Bearer <key>`.", 401)
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(RateLimited)
def _rate_limited(request, exc: RateLimited):
    response = error("rate_limited", str(exc), 429)
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    fields: dict[str, list[str]] = {}
    for e in exc.errors:
        loc = list(e.get("loc", ()))
        # ("body", "body", "title") -> "title": the location, then the body parameter's name.
        path = loc[2:] if loc[:1] == ["body"] and len(loc) > 2 else loc[1:]
        name = ".".join(str(p) for p in path) or "request"
        fields.setdefault(name, []).append(str(e.get("msg", "Invalid value.")).removeprefix("Value error, "))
    first = next(iter(fields.items()))
    return error("invalid", f"{first[0]}: {first[1][0]}", 400, fields)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error("not_found", str(exc) or "Not found.", 404)


CODES = {400: "invalid", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 409: "conflict"}


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return error(CODES.get(exc.status_code, "error"), str(exc), exc.status_code)


@api.exception_handler(Exception)
def _unexpected(request, exc):
    log.exception("API request failed: %s %s", request.method, request.path)
    return error("server_error", "Something went wrong on our side; it has been logged.", 500)


def not_found_json(request, rest: str = ""):
    """Unknown paths under /api/v1/ answer in the API's shape, not Django's HTML page."""
    return error("not_found", "No such endpoint; see /api/v1/docs.", 404)


def _json_405(view):
    @wraps(view)  # keeps the csrf_exempt flag django-ninja set
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and response.get("Content-Type") != "application/json":
            allowed = response.get("Allow", "")
            response = error(
                "method_not_allowed", f"{request.method} is not allowed here; use {allowed}.", 405
            )
            response["Allow"] = allowed
        return response

    return wrapper


def urls() -> tuple:
    """django-ninja's URL patterns, answering a wrong method in the API's shape too
    (django-ninja answers a plain-text 405)."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback = _json_405(pattern.callback)
    return patterns, app_name, namespace


def form_error(form) -> JsonResponse:
    fields = {name: [str(m) for m in msgs] for name, msgs in form.errors.items()}
    message = next(iter(fields.values()))[0]
    status = 413 if message.startswith("The file is too large") else 400
    return error("too_large" if status == 413 else "invalid", message, status, fields)


def refuse_large_bodies(view):
    """413 before Django reads a byte of an oversized upload (as the upload page does)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.MAX_UPLOAD_MB * 2**20 + 2**20:
            return error("too_large", too_large_message(length), 413)
        return view(request, *args, **kwargs)

    return wrapper


# Schemas ------------------------------------------------------------------------------

TranscriptStatus = Literal["uploaded", "queued", "processing", "completed", "failed"]
assert set(TranscriptStatus.__args__) == {s for s, _ in STATUSES}


class Word(Schema):
    start: float
    end: float
    word: str
    probability: float | None = None


class Segment(Schema):
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: list[Word] | None = None


class Links(Schema):
    self: str
    web: str
    exports: dict[str, str]


class TranscriptSummary(Schema):
    id: UUID
    title: str
    status: TranscriptStatus
    progress: float
    error: str
    language: str
    duration: float | None
    source: str
    created_at: datetime
    links: Links


class TranscriptOut(TranscriptSummary):
    model: str
    word_timestamps: bool
    completed_at: datetime | None
    text: str
    speakers: list[str]
    segments: list[Segment]
    callback_secret: str | None = Field(
        None, description="Only in the answer that registered a callback_url: its signing secret."
    )


class Page(Schema):
    items: list[TranscriptSummary]
    page: int
    per_page: int
    has_next: bool


NUL_MESSAGE = "Null characters are not allowed."


class In(Schema):
    """Request bodies. PostgreSQL cannot store NUL in text, so it is refused up front
    with the message Django's forms give."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value):
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(NUL_MESSAGE)
        return value


class Rename(In):
    title: str = Field(..., min_length=1, max_length=200)


class DirectUploadIn(In):
    name: str = Field(..., min_length=1, max_length=300)
    size: int | None = Field(None, ge=0)


class DirectUploadOut(Schema):
    url: str
    fields: dict[str, str]
    key: str
    token: str


class DirectUploadDone(In):
    token: str = Field(..., max_length=2000)
    title: str = Field("", max_length=200)
    language: str = ""
    word_timestamps: bool = False
    task: Literal["transcribe", "translate"] = "transcribe"
    prompt: str = Field("", max_length=2000)
    speakers: bool = False
    callback_url: str = Field("", max_length=500)


# Endpoints ----------------------------------------------------------------------------


def _get(request, transcript_id) -> Transcript:
    """The transcript if it belongs to the key's owner; 404 otherwise."""
    return get_object_or_404(Transcript, id=transcript_id, owner=request.user)


def _base(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _out(request, t: Transcript, status: int = 200, **extra) -> Status:
    return Status(status, {**payloads.detail(t, _base(request)), **extra})


def _with_callback(request, callback_url: str, make) -> tuple[Transcript, str | None]:
    """Run `make()` (which creates the row) and register its callback in one transaction,
    so the work dispatched after commit already finds the callback."""
    with transaction.atomic():
        t = make()
        secret = webhooks.register_callback(t, callback_url, _base(request)) if callback_url else None
    return t, secret


@api.post(
    "/transcripts",
    response={201: TranscriptOut, **errors(413)},
    summary="Upload audio (or a text transcript) and start transcribing it",
    description="multipart/form-data, the same fields and checks as the upload page. For files "
    "too large for one request, use a direct upload (POST /uploads).",
)
@decorate_view(refuse_large_bodies)
def create_transcript(
    request,
    audio: File[UploadedFile] = None,
    transcript: File[UploadedFile] = None,
    title: Form[str] = "",
    language: Form[str] = "",
    word_timestamps: Form[bool] = False,
    task: Form[Literal["transcribe", "translate"]] = "transcribe",
    prompt: Form[str] = "",
    speakers: Form[bool] = False,
    callback_url: Form[str] = "",
):
    from transcripts.views import _create  # the upload page's own create

    if problem := webhooks.url_problem(callback_url):
        return error("invalid", f"callback_url: {problem}", 400, {"callback_url": [problem]})
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return form_error(form)

    def make() -> Transcript:
        t = _create(request.user, form)
        Transcript.objects.filter(id=t.id, source="web").update(source="api")
        return t

    t, secret = _with_callback(request, callback_url, make)
    t.refresh_from_db()
    return _out(request, t, 201, callback_secret=secret)


@api.post(
    "/uploads", response={200: DirectUploadOut, **errors(403, 404, 413)}, summary="Start a direct upload"
)
def start_upload(request, body: DirectUploadIn):
    """A presigned POST to send the file straight to storage (needs S3), then POST
    /uploads/complete with the token. Files up to MAX_UPLOAD_MB."""
    try:
        return direct_upload.issue(request.user, body.name, body.size)
    except direct_upload.UploadRefused as exc:
        return error("upload_refused", str(exc), exc.status)


@api.post(
    "/uploads/complete",
    response={200: TranscriptOut, 201: TranscriptOut, **errors(403, 404)},
    summary="Finish a direct upload: the transcript starts",
)
def complete_upload(request, body: DirectUploadDone):
    if problem := webhooks.url_problem(body.callback_url):
        return error("invalid", f"callback_url: {problem}", 400, {"callback_url": [problem]})
    created = []

    def make() -> Transcript:
        t, is_new = direct_upload.register(
            request.user,
            body.token,
            title=body.title,
            language=body.language,
            word_timestamps=body.word_timestamps,
            task=body.task,
            prompt=body.prompt,
        )
        Transcript.objects.filter(id=t.id, source="web").update(source="api")
        created.append(is_new)
        return t

    try:
        t, secret = _with_callback(request, body.callback_url, make)
    except direct_upload.UploadRefused as exc:
        return error("upload_refused", str(exc), exc.status)
    t.refresh_from_db()
    return _out(request, t, 201 if created[0] else 200, callback_secret=secret)


@api.get("/transcripts", response={200: Page, **errors()}, summary="List transcripts, newest first")
def list_transcripts(
    request,
    status: TranscriptStatus | None = None,
    q: str = "",
    page: int = Query(1, ge=1, le=100_000),
    per_page: int = Query(25, ge=1, le=100),
):
    qs = Transcript.objects.for_user(request.user)
    if status:
        qs = qs.filter(status=status)
    if q := q.replace("\x00", "").strip()[:200]:
        qs = qs.filter(Q(title__icontains=q) | Q(text__icontains=q))
    start = (page - 1) * per_page
    # One row past the page says whether there is a next one without counting every match.
    rows = list(qs.defer("segments", "text", "reference_text")[start : start + per_page + 1])
    base = _base(request)
    return {
        "items": [payloads.summary(t, base) for t in rows[:per_page]],
        "page": page,
        "per_page": per_page,
        "has_next": len(rows) > per_page,
    }


@api.get(
    "/transcripts/{transcript_id}/",
    response={200: TranscriptOut, **errors(404)},
    summary="One transcript: status, progress, error, language, duration, speakers, segments",
    url_name="get_transcript",
)
def get_transcript(request, transcript_id: UUID):
    return _out(request, _get(request, transcript_id))


@api.patch("/transcripts/{transcript_id}/", response={200: TranscriptOut, **errors(404)}, summary="Rename")
def rename_transcript(request, transcript_id: UUID, body: Rename):
    t = _get(request, transcript_id)
    title = re.sub(r"\s+", " ", body.title).strip()
    if not title:
        return error("invalid", "title: Enter a title.", 400, {"title": ["Enter a title."]})
    t.title = title
    t.save(update_fields=["title", "updated_at"])
    return _out(request, t)


@api.delete("/transcripts/{transcript_id}/", response={204: None, **errors(404)}, summary="Delete")
def delete_transcript(request, transcript_id: UUID):
    t = _get(request, transcript_id)
    t.delete_files()
    t.delete()
    return Status(204, None)


@api.post(
    "/transcripts/{transcript_id}/retry",
    response={202: TranscriptOut, **errors(404, 409)},
    summary="Transcribe a failed transcript again",
)
def retry_transcript(request, transcript_id: UUID):
    t = _get(request, transcript_id)
    if not (t.status == FAILED and t.audio and t.requeue()):
        return error("conflict", "Only a failed transcription with audio can be retried.", 409)
    dispatch(t.id)
    t.refresh_from_db()
    return _out(request, t, 202)


@api.get(
    "/transcripts/{transcript_id}/export/{fmt}",
    response={200: None, **errors(404, 409)},
    summary="Export a finished transcript",
    openapi_extra={
        "responses": {
            200: {
                "description": "The transcript in the asked format",
                "content": {
                    ct.split(";")[0]: {"schema": {"type": "string"}} for ct in exports.CONTENT_TYPES.values()
                },
            }
        }
    },
)
def export_transcript(request, transcript_id: UUID, fmt: str):
    t = _get(request, transcript_id)
    if fmt not in exports.CONTENT_TYPES:
        return error("not_found", f"Export as {', '.join(exports.CONTENT_TYPES)}.", 404)
    if t.status != COMPLETED:
        return error("conflict", "This transcript is not finished yet.", 409)
    response = HttpResponse(exports.render(t, fmt), content_type=exports.CONTENT_TYPES[fmt])
    name = re.sub(r"[^\w.-]+", "_", t.title, flags=re.ASCII).strip("_") or "transcript"
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
