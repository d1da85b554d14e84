"""`manage.py transcribe PATH` prints a transcript; `--id UUID` (re)runs a stored one.

Also runs on Lambda through `zappa manage <stage> "transcribe --id …"`, where
PATH may be a key in the bucket (`audio/…`).
"""

from __future__ import annotations

import os
import time
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from transcripts import exports
from transcripts import storage as store
from transcripts.capabilities import engine_for, model_info
from transcripts.models import COMPLETED, FAILED, Transcript
from transcripts.pipeline.dispatch import recover_stale
from transcripts.pipeline.run import run
from workers.speech import models
from workers.speech.audio import AudioError, probe
from workers.speech.engines import EngineError, TranscribeOptions


class Command(BaseCommand):
    help = "Transcribe an audio file and print the transcript, or (re)run a stored transcript with --id."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="audio or video file (or a key in the bucket)")
        parser.add_argument("--format", choices=sorted(exports.CONTENT_TYPES), default="txt")
        parser.add_argument("--model", help="Whisper model for this run (default: WHISPER_MODEL)")
        parser.add_argument("--language", help="language code, e.g. de; detected per passage when omitted")
        parser.add_argument("--translate", action="store_true", help="translate the speech to English")
        parser.add_argument("--prompt", help="names, jargon and spellings to expect")
        parser.add_argument("--words", action="store_true", help="word-level timestamps (json)")
        parser.add_argument("--id", dest="transcript_id", help="transcribe a stored transcript now")
        parser.add_argument(
            "--recover", action="store_true", help="requeue transcripts whose worker vanished"
        )

    def handle(self, *args, **opts):
        try:
            if opts["recover"]:
                ids = recover_stale()
                self.stdout.write(f"recovered {len(ids)} transcript(s)")
            elif opts["transcript_id"]:
                self._run_stored(opts["transcript_id"])
            elif opts["path"]:
                self._transcribe_path(opts)
            else:
                raise CommandError("give a PATH to transcribe, --id UUID or --recover")
        except (AudioError, EngineError) as exc:
            raise CommandError(str(exc)) from exc

    def _transcribe_path(self, opts) -> None:
        path = opts["path"]
        if not os.path.exists(path):
            if not store.on_s3():
                raise CommandError(f"{path}: no such file")
            try:
                with store.local_copy(path) as local:
                    return self._transcribe_file(local, os.path.basename(path), opts)
            except FileNotFoundError as exc:
                raise CommandError(f"{path}: no such file or key") from exc
        if os.path.isdir(path):
            raise CommandError(f"{path}: is a folder, not a file")
        if not os.path.isfile(path):  # /dev/urandom, a pipe: no size, maybe no end
            raise CommandError(f"{path}: not a regular file; save the audio to a file first")
        return self._transcribe_file(path, os.path.basename(path), opts)

    def _transcribe_file(self, path: str, title: str, opts) -> None:
        info = probe(
            path, max_seconds=settings.MAX_AUDIO_MINUTES * 60, min_seconds=settings.MIN_AUDIO_SECONDS
        )
        options = self._options(opts)
        engine = engine_for(opts["model"])
        result = engine.transcribe(path, options, self._progress(info.duration))
        self._clear_progress()
        self.stdout.write(exports.render(exports.Document.of(title, result), opts["format"]), ending="")
        if opts["format"] == "json":
            self.stdout.write("")

    def _options(self, opts) -> TranscribeOptions:
        """Only what the model can do: a language or task it lacks is refused before any work."""
        task = "translate" if opts["translate"] else "transcribe"
        models.check(model_info(opts["model"]), opts["language"], task)
        prompt = (opts["prompt"] or "").strip() or None
        return TranscribeOptions(
            language=opts["language"], word_timestamps=opts["words"], task=task, prompt=prompt
        )

    def _run_stored(self, transcript_id: str) -> None:
        try:
            transcript_id = str(uuid.UUID(transcript_id))
        except ValueError:
            raise CommandError(f"--id {transcript_id}: not a transcript id (a UUID)") from None
        t = Transcript.objects.filter(id=transcript_id).first()
        if t is None:
            raise CommandError(f"no transcript {transcript_id}")
        if t.status == FAILED:
            t.requeue()
        outcome = run(str(t.id))
        t.refresh_from_db()
        if t.status == FAILED:
            raise CommandError(f"{t.id}: failed: {t.error}")
        self.stdout.write(f"{t.id}: {t.status if t.status == COMPLETED else outcome}")

    def _progress(self, duration: float):
        if not self.stderr.isatty() or duration < 30:
            return None
        started = time.monotonic()

        def show(fraction: float) -> None:
            elapsed = time.monotonic() - started
            self.stderr.write(
                f"\r{fraction * 100:5.1f}% of {duration / 60:.1f} min · {elapsed:.0f} s elapsed",
                style_func=str,
                ending="",
            )
            self.stderr.flush()

        self._shown = True
        return show

    def _clear_progress(self) -> None:
        if getattr(self, "_shown", False):
            self.stderr.write("\r\033[K", style_func=str, ending="")
