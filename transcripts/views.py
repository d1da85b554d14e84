from __future__ import annotations

import math
import os
import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from workers.speech.media_types import media_type, sniff_media_type

from . import exports
from .forms import RenameForm, SegmentsForm, SignupForm, UploadForm, too_large_message
from .keys import download_name
from .models import COMPLETED, FAILED, Transcript
from .pipeline.dispatch import dispatch

MISSING_AUDIO = "The audio file of this transcript is missing."

PER_PAGE = 25
# Below DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000 by default), so the edit page still
# saves without JavaScript; longer transcripts post one JSON field from app.js.
EDIT_FIELDS_WITHOUT_SCRIPT = 300
LIST_FIELDS = ("id", "title", "status", "duration", "language", "created_at", "progress", "source")


def _get_transcript(request, transcript_id) -> Transcript:
    """The transcript if it belongs to the signed-in user; 404 otherwise."""
    return get_object_or_404(Transcript, id=transcript_id, owner=request.user)


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # Named because django-axes adds a backend that only counts attempts.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("transcript_list")
    return render(request, "registration/signup.html", {"form": form})


def signin_throttled(request, credentials, *args, **kwargs) -> HttpResponse:
    """django-axes answers with this (AXES_LOCKOUT_CALLABLE) while sign-in is throttled."""
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return render(request, "registration/signin_throttled.html", {"minutes": minutes}, status=429)


@login_required
@require_GET
def transcript_list(request):
    q = request.GET.get("q", "").strip()[:200]
    qs = Transcript.objects.for_user(request.user).only(*LIST_FIELDS)
    if q:
        # Every word, in any order, in the title or the text: a LIKE per word,
        # which PostgreSQL's trigram indexes serve (migration 0002).
        for word in q.split()[:10]:
            qs = qs.filter(Q(title__icontains=word) | Q(text__icontains=word))
        page = SearchPage(qs, request.GET.get("page"))
    else:
        page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "transcripts/list.html", {"page": page, "q": q})


class SearchPage:
    """A page of search results with no total: counting every match of a common
    word costs more than showing the page (BENCHMARKS.md), so we fetch one row
    more than a page to know whether there is a next one."""

    paginator = None

    def __init__(self, qs, number: str | None):
        self.number = int(number) if str(number or "").isdigit() and int(number) > 0 else 1
        start = (self.number - 1) * PER_PAGE
        rows = list(qs[start : start + PER_PAGE + 1])
        self.object_list = rows[:PER_PAGE]
        self.has_next = len(rows) > PER_PAGE
        self.has_previous = self.number > 1

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


@login_required
def upload(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        transcript = _create(request.user, form)
        return redirect(transcript)
    status = 400 if form.errors else 200
    return render(request, "transcripts/upload.html", {"form": form}, status=status)


def upload_too_large(request, length: int) -> HttpResponse:
    """The upload page again, saying why; project.middleware answers with it by the
    declared Content-Length, before anything has read the body."""
    context = {"form": UploadForm(), "error": too_large_message(length)}
    return render(request, "transcripts/upload.html", context, status=413)


def _create(user, form: UploadForm) -> Transcript:
    data = form.cleaned_data
    audio, text = data.get("audio"), data.get("transcript")
    t = Transcript(owner=user, title=form.default_title, language_hint=data.get("language") or "")
    t.word_timestamps = bool(data.get("word_timestamps"))
    t.task, t.prompt = form.task, data.get("prompt", "").strip()
    if audio:
        t.original_name = audio.name[:300]
        t.size_bytes = audio.size
        t.duration = form.audio_info.duration
        # What the probe found, never what the browser claimed: django-storages stores it on S3.
        audio.content_type = media_type(form.audio_info.format)
        t.audio.save(audio.name, audio, save=False)
        if text:
            t.reference_text = text.text
    else:
        t.source = "import"
        t.status = COMPLETED
        t.original_name = text.name
        t.text, t.segments, t.timestamps = text.text, text.segments, bool(text.segments)
    t.save()
    return t


@login_required
@require_GET
def transcript_detail(request, transcript_id):
    t = _get_transcript(request, transcript_id)
    return render(request, "transcripts/detail.html", {"t": t})


@login_required
@require_GET
def transcript_status(request, transcript_id):
    t = _get_transcript(request, transcript_id)
    return JsonResponse({"status": t.status, "progress": t.progress, "error": t.error, "active": t.is_active})


@login_required
@require_GET
def transcript_audio(request, transcript_id):
    t = _get_transcript(request, transcript_id)
    if not t.audio:
        raise Http404("This transcript has no audio.")
    if settings.TRANSCRIPTS_BUCKET:
        if not default_storage.exists(t.audio.name):
            raise Http404(MISSING_AUDIO)
        # A short-lived presigned GET on the bucket's own origin; as an attachment, a
        # browser that navigates to it saves it rather than rendering what it holds.
        return HttpResponseRedirect(
            default_storage.url(t.audio.name, parameters={"ResponseContentDisposition": "attachment"})
        )
    path = default_storage.path(t.audio.name)
    try:
        return _ranged_file(request, path, sniff_media_type(path))
    except FileNotFoundError:
        raise Http404(MISSING_AUDIO) from None


def _read_range(path: str, start: int, length: int, chunk: int = 64 * 1024):
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0 and (data := f.read(min(chunk, length))):
            length -= len(data)
            yield data


def _ranged_file(request, path: str, content_type: str) -> HttpResponse:
    """Serve a file honouring a single byte Range, which browsers need to seek audio."""
    size = os.path.getsize(path)
    m = re.match(r"bytes=(\d*)-(\d*)$", request.headers.get("Range", ""))
    if not m or (not m.group(1) and not m.group(2)):
        response = FileResponse(open(path, "rb"), content_type=content_type)  # noqa: SIM115 - the response closes it
        response["Accept-Ranges"] = "bytes"
        return response
    if m.group(1):
        start, end = int(m.group(1)), int(m.group(2) or size - 1)
    else:
        start, end = max(size - int(m.group(2)), 0), size - 1
    end = min(end, size - 1)
    if start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    # Streamed: browsers ask for media as `bytes=0-`, which must not load the whole file.
    response = StreamingHttpResponse(
        _read_range(path, start, end - start + 1), status=206, content_type=content_type
    )
    response["Content-Length"] = str(end - start + 1)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


@login_required
@require_GET
def transcript_export(request, transcript_id, fmt):
    t = _get_transcript(request, transcript_id)
    if fmt not in exports.CONTENT_TYPES:
        raise Http404("Export as txt, srt, vtt or json.")
    if t.status != COMPLETED:
        raise Http404("This transcript is not finished yet.")
    response = HttpResponse(exports.render(t, fmt), content_type=exports.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = content_disposition_header(True, download_name(t.title, fmt))
    return response


@login_required
@require_POST
def transcript_retry(request, transcript_id):
    t = _get_transcript(request, transcript_id)
    if t.status == FAILED and t.audio and t.requeue():
        dispatch(t.id)
        messages.success(request, "Transcription restarted.")
    else:
        messages.info(request, "Only a failed transcription with audio can be retried.")
    return redirect(t)


@login_required
@require_POST
def transcript_delete(request, transcript_id):
    t = _get_transcript(request, transcript_id)
    t.delete_files()
    t.delete()
    messages.success(request, f"Deleted “{t.title}”.")
    return redirect("transcript_list")


@login_required
@require_POST
def transcript_rename(request, transcript_id):
    t = _get_transcript(request, transcript_id)
    form = RenameForm(request.POST)
    if form.is_valid():
        t.title = form.cleaned_data["title"]
        t.save(update_fields=["title", "updated_at"])
        messages.success(request, f"Renamed to “{t.title}”.")
    else:
        messages.error(request, form.errors["title"][0])
    return redirect(t)


@login_required
def transcript_edit(request, transcript_id):
    t = _get_transcript(request, transcript_id)
    if t.status != COMPLETED:
        raise Http404("Only a finished transcript can be edited.")
    form = SegmentsForm(request.POST or None, segments=t.segments)
    if request.method == "POST" and form.is_valid():
        t.segments = form.corrected()
        t.text = " ".join(s["text"] for s in t.segments if s["text"])
        t.edited = True
        t.save(update_fields=["segments", "text", "edited", "updated_at"])
        messages.success(request, "Transcript saved.")
        return redirect(t)
    context = {"t": t, "form": form, "named": len(t.segments) <= EDIT_FIELDS_WITHOUT_SCRIPT}
    return render(request, "transcripts/edit.html", context, status=400 if form.errors else 200)
