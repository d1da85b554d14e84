from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.core.files.uploadedfile import UploadedFile

from workers.speech.audio import AudioError, AudioInfo, probe

from .imports import TranscriptFormatError, parse_transcript
from .keys import sanitise_filename, title_from_name

LANGUAGES = [
    ("", "Detect automatically"),
    ("en", "English"),
    ("de", "German"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("nl", "Dutch"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("ru", "Russian"),
    ("sv", "Swedish"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("zh", "Chinese"),
]
TEXT_EXTENSIONS = ("txt", "srt", "vtt")
# Ten hours of speech as SRT is about 1 MB; more makes pages no one can read (issue 7, item 15).
MAX_TEXT_BYTES = 2 * 1024 * 1024


@dataclass
class ImportedText:
    name: str
    text: str
    segments: list[dict]


def probe_upload(upload: UploadedFile) -> AudioInfo:
    """Probe an upload by decoding it: a path for files Django spooled to disk,
    a temporary copy for small in-memory ones."""
    limits = dict(max_seconds=settings.MAX_AUDIO_MINUTES * 60, min_seconds=settings.MIN_AUDIO_SECONDS)
    if hasattr(upload, "temporary_file_path"):
        return probe(upload.temporary_file_path(), **limits)
    with tempfile.NamedTemporaryFile(suffix=os.path.splitext(upload.name)[1][:10]) as tmp:
        for chunk in upload.chunks():
            tmp.write(chunk)
        tmp.flush()
        upload.seek(0)
        return probe(tmp.name, **limits)


def too_large_message(size: int) -> str:
    return f"The file is too large ({size / 2**20:.0f} MB); the limit is {settings.MAX_UPLOAD_MB} MB."


class SignupForm(UserCreationForm):
    pass


class UploadForm(forms.Form):
    audio = forms.FileField(
        required=False, help_text="mp3, m4a, wav, flac, ogg, opus, webm, or a video with sound."
    )
    transcript = forms.FileField(
        required=False,
        label="Text transcript",
        help_text="A .txt, .srt or .vtt file: alone it is imported; with audio it is the reference for the error rate.",
    )
    title = forms.CharField(max_length=200, required=False)
    language = forms.ChoiceField(choices=LANGUAGES, required=False)
    word_timestamps = forms.BooleanField(required=False, label="Word-level timestamps")

    def clean_audio(self) -> UploadedFile | None:
        upload = self.cleaned_data.get("audio")
        if not upload:
            return None
        if upload.size > settings.MAX_UPLOAD_MB * 2**20:
            raise forms.ValidationError(too_large_message(upload.size))
        try:
            self.audio_info = probe_upload(upload)
        except AudioError as exc:
            # The name decides nothing (a flac named .txt is audio), but it explains a refusal.
            if upload.name.rsplit(".", 1)[-1].lower() in TEXT_EXTENSIONS:
                raise forms.ValidationError(
                    "This is a text file, not a recording: put a .txt, .srt or .vtt transcript "
                    "in the Text transcript field."
                ) from exc
            raise forms.ValidationError(str(exc)) from exc
        return upload

    def clean_transcript(self) -> ImportedText | None:
        upload = self.cleaned_data.get("transcript")
        if not upload:
            return None
        name = sanitise_filename(upload.name)
        if name.rsplit(".", 1)[-1].lower() not in TEXT_EXTENSIONS:
            raise forms.ValidationError("A text transcript must be a .txt, .srt or .vtt file.")
        if upload.size > MAX_TEXT_BYTES:
            raise forms.ValidationError(
                f"The transcript file is {upload.size / 2**20:.1f} MB; the most we import is "
                f"{MAX_TEXT_BYTES // 2**20} MB (about ten hours of speech)."
            )
        try:
            text, segments = parse_transcript(name, upload.read())
        except TranscriptFormatError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return ImportedText(name, text, segments)

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors and not data.get("audio") and not data.get("transcript"):
            raise forms.ValidationError("Choose an audio file, a text transcript, or both.")
        return data

    @property
    def default_title(self) -> str:
        data = self.cleaned_data
        if data.get("title"):
            return data["title"]
        return title_from_name(data["audio"].name if data.get("audio") else data["transcript"].name)


class RenameForm(forms.Form):
    title = forms.CharField(max_length=200)

    def clean_title(self) -> str:
        title = " ".join(self.cleaned_data["title"].split())
        if not title:
            raise forms.ValidationError("A title cannot be empty.")
        return title


class SegmentsForm(forms.Form):
    """Corrections to a transcript's segments. The page's script posts only the
    changed ones, as one JSON object {"<index>": "<text>"} in `edits`, because a
    long meeting has more segments than Django accepts form fields
    (DATA_UPLOAD_MAX_NUMBER_FIELDS). Without script each box posts as seg-<index>."""

    MAX_SEGMENT_CHARS = 5000

    edits = forms.CharField(required=False, strip=False)

    def __init__(self, *args, segments: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.segments = segments

    def clean(self) -> dict:
        data = super().clean()
        raw = data.get("edits") or ""
        if raw:
            try:
                edits = json.loads(raw)
            except ValueError:
                edits = None
            if not isinstance(edits, dict) or not all(isinstance(v, str) for v in edits.values()):
                raise forms.ValidationError(
                    "The corrections could not be read; reload the page and try again."
                )
        else:
            edits = {k[4:]: v for k, v in self.data.items() if k.startswith("seg-")}
        changes = {}
        for key, text in edits.items():
            if not (key.isdigit() and int(key) < len(self.segments)):
                raise forms.ValidationError(
                    "The transcript changed since this page was loaded; reload it and make the corrections again."
                )
            if len(text) > self.MAX_SEGMENT_CHARS:
                raise forms.ValidationError(
                    f"Segment {int(key) + 1} is longer than {self.MAX_SEGMENT_CHARS:,} characters."
                )
            changes[int(key)] = text.strip()
        data["changes"] = changes
        return data

    def corrected(self) -> list[dict]:
        out = []
        changes = self.cleaned_data["changes"]
        for i, seg in enumerate(self.segments):
            text = changes.get(i, seg.get("text", "")).strip()
            changed = {**seg, "text": text}
            if text != seg.get("text", "").strip():
                changed.pop("words", None)  # word timings no longer match edited text
            out.append(changed)
        return out
