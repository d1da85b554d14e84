from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.core.files.uploadedfile import UploadedFile

from workers.speech import models
from workers.speech.audio import AudioError, AudioInfo, probe

from .capabilities import language_choices, model_info
from .imports import TranscriptFormatError, parse_transcript
from .keys import sanitise_filename, title_from_name

TEXT_EXTENSIONS = ("txt", "srt", "vtt")
# Whisper reads at most 224 prompt tokens; a longer prompt only loses its start.
MAX_PROMPT_CHARS = 800
MAX_VOCABULARY_WORDS = 100
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
    # A Select, validated by clean_language, so a language the model lacks gets a message that says so.
    language = forms.CharField(required=False, widget=forms.Select)
    translate = forms.BooleanField(required=False, label="Translate to English")
    prompt = forms.CharField(
        required=False,
        max_length=MAX_PROMPT_CHARS,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Names, jargon and spellings to expect, e.g. “ComfyUI, Siobhan Nguyen”. Your vocabulary (Settings) is added.",
    )
    word_timestamps = forms.BooleanField(required=False, label="Word-level timestamps")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model_info()
        self.fields["language"].widget.choices = language_choices(self.model)
        self.fields[
            "language"
        ].help_text = f"The model, {self.model.name}, knows {len(self.model.languages)} language(s)."
        if "translate" not in self.model.tasks:
            del self.fields["translate"]

    def clean_language(self) -> str:
        language = self.cleaned_data.get("language") or ""
        try:
            models.check(self.model, language or None, "transcribe")
        except models.ModelError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return language

    @property
    def task(self) -> str:
        """Translate when the checkbox or an API's `task` asks for it, even where the model
        cannot (and the checkbox is not offered): `clean` then refuses it rather than drop it."""
        asked = forms.BooleanField(required=False).to_python(self.data.get("translate"))
        return "translate" if asked or self.data.get("task") == "translate" else "transcribe"

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
        try:
            models.check(self.model, None, self.task)
        except models.ModelError as exc:
            raise forms.ValidationError(str(exc)) from exc
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


class VocabularyForm(forms.Form):
    vocabulary = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="One word or name per line. Every upload is told to expect them.",
    )

    def clean_vocabulary(self) -> str:
        words = [w.strip() for w in self.cleaned_data["vocabulary"].splitlines() if w.strip()]
        if len(words) > MAX_VOCABULARY_WORDS:
            raise forms.ValidationError(
                f"At most {MAX_VOCABULARY_WORDS} entries; this list has {len(words)}."
            )
        if any(len(w) > 60 for w in words):
            raise forms.ValidationError("Keep each entry under 60 characters.")
        if len(", ".join(words)) > MAX_PROMPT_CHARS:
            raise forms.ValidationError(
                f"The list is too long for the model to read (over {MAX_PROMPT_CHARS} characters)."
            )
        return "\n".join(dict.fromkeys(words))
