from __future__ import annotations

import mimetypes
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
from django.views.decorators.http import require_GET, require_POST

from . import exports
from .forms import SegmentsForm, SignupForm, SpeakerNamesForm, UploadForm, too_large_message
from .models import COMPLETED, FAILED, Transcript
from .tasks import dispatch

PER_PAGE = 25
LIST_FIELDS = ("id", "title", "status", "duration", "language", "created_at", "progress", "source")


def _get_transcript(request, transcript_id) -> Transcript:
    """The transcript if it belongs to the signed-in user; 404 otherwise."""
    return get_object_or_404(Transcript, id=transcript_id, owner=request.user)


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("transcript_list")
    return render(request, "registration/signup.html", {"form": form})


@login_required
@require_GET
def transcript_list(request):
    q = request.GET.get("q", "").strip()[:200]
    qs = Transcript.objects.for_user(request.user).only(*LIST_FIELDS)
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(text__icontains=q) | Q(speakers__icontains=q))
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
    # Refuse an oversized body before Django reads a byte of it.
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if request.method == "POST" and length > settings.MAX_UPLOAD_MB * 2**20 + 2**20:
        context = {"form": UploadForm(), "error": too_large_message(length)}
        return render(request, "transcripts/upload.html", context, status=413)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        transcript = _create(request.user, form)
        return redirect(transcript)
    status = 400 if form.errors else 200
    return render(request, "transcripts/upload.html", {"form": form}, status=status)


def _create(user, form: UploadForm) -> Transcript:
    data = form.cleaned_data
    audio, text = data.get("audio"), data.get("transcript")
    t = Transcript(owner=user, title=form.default_title, language_hint=data.get("language") or "")
    t.word_timestamps = bool(data.get("word_timestamps"))
    t.speakers_asked = data.get("speakers") or ""
    if audio:
        t.original_name = audio.name[:300]
        t.size_bytes = audio.size
        t.duration = form.audio_info.duration
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
        return HttpResponseRedirect(default_storage.url(t.audio.name))  # short-lived presigned GET
    return _ranged_file(request, default_storage.path(t.audio.name))


def _read_range(path: str, start: int, length: int, chunk: int = 64 * 1024):
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0 and (data := f.read(min(chunk, length))):
            length -= len(data)
            yield data


def _ranged_file(request, path: str) -> HttpResponse:
    """Serve a file honouring a single byte Range, which browsers need to seek audio."""
    size = os.path.getsize(path)
    m = re.match(r"bytes=(\d*)-(\d*)$", request.headers.get("Range", ""))
    if not m or (not m.group(1) and not m.group(2)):
        response = FileResponse(open(path, "rb"))  # noqa: SIM115 - the response closes it
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
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
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
        raise Http404("Export as txt, srt, vtt, json or docx.")
    if t.status != COMPLETED:
        raise Http404("This transcript is not finished yet.")
    response = HttpResponse(exports.render(t, fmt), content_type=exports.CONTENT_TYPES[fmt])
    name = re.sub(r"[^\w.-]+", "_", t.title, flags=re.ASCII).strip("_") or "transcript"
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@login_required
@require_POST
def transcript_speakers(request, transcript_id):
    """Rename speakers once; the page, search and every export read the names from here."""
    t = _get_transcript(request, transcript_id)
    form = SpeakerNamesForm(request.POST, speakers=t.speakers)
    if form.is_valid():
        t.rename_speakers(form.cleaned_data)
        messages.success(request, "Speaker names saved.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect(t)


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
    return render(
        request, "transcripts/edit.html", {"t": t, "form": form, "rows": zip(form, t.segments, strict=True)}
    )
