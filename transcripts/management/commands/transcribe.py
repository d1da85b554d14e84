"""`manage.py transcribe PATH` prints a transcript; `--id UUID` (re)runs a stored one.

Also runs on Lambda through `zappa manage <stage> "transcribe --id …"`, where
PATH may be a key in the bucket (`audio/…`).
"""

from __future__ import annotations

import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from transcripts import exports
from transcripts import storage as store
from transcripts.models import COMPLETED, FAILED, Transcript
from workers.speech.audio import AudioError, probe
from workers.speech.engines import EngineError, TranscribeOptions, get_engine
from workers.speech.speakers import SpeakerCount, SpeakersError


class Command(BaseCommand):
    help = "Transcribe an audio file and print the transcript, or (re)run a stored transcript with --id."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="audio or video file (or a key in the bucket)")
        parser.add_argument("--format", choices=sorted(exports.CONTENT_TYPES), default="txt")
        parser.add_argument("--language", help="language code, e.g. en; detected when omitted")
        parser.add_argument("--words", action="store_true", help="word-level timestamps (json)")
        parser.add_argument(
            "--speakers",
            nargs="?",
            const="auto",
            metavar="N|MIN-MAX",
            help="label speakers; alone: count found automatically, or exactly N, or MIN-MAX",
        )
        parser.add_argument("-o", "--output", metavar="FILE", help="write the transcript to FILE")
        parser.add_argument("--id", dest="transcript_id", help="transcribe a stored transcript now")
        parser.add_argument(
            "--recover", action="store_true", help="requeue transcripts whose worker vanished"
        )

    def handle(self, *args, **opts):
        try:
            if opts["recover"]:
                from transcripts.tasks import recover_stale

                ids = recover_stale()
                self.stdout.write(f"recovered {len(ids)} transcript(s)")
            elif opts["transcript_id"]:
                self._run_stored(opts["transcript_id"])
            elif opts["path"]:
                self._transcribe_path(opts)
            else:
                raise CommandError("give a PATH to transcribe, --id UUID or --recover")
        except (AudioError, EngineError, SpeakersError) as exc:
            raise CommandError(str(exc)) from exc

    def _transcribe_path(self, opts) -> None:
        from django.conf import settings

        path = opts["path"]
        if not os.path.exists(path):
            if not store.on_s3():
                raise CommandError(f"{path}: no such file")
            with store.local_copy(path) as local:
                return self._transcribe_file(local, opts, settings)
        if os.path.isdir(path):
            raise CommandError(f"{path}: is a folder, not a file")
        return self._transcribe_file(path, opts, settings)

    def _transcribe_file(self, path: str, opts, settings) -> None:
        # Checked before the work: a binary format must not be sprayed on a terminal after minutes.
        if opts["format"] in exports.BINARY and not opts["output"] and sys.stdout.isatty():
            raise CommandError(f"{opts['format']} is a binary format: give -o FILE or redirect the output.")
        speakers = SpeakerCount.parse(opts["speakers"]) if opts["speakers"] else None
        info = probe(
            path, max_seconds=settings.MAX_AUDIO_MINUTES * 60, min_seconds=settings.MIN_AUDIO_SECONDS
        )
        options = TranscribeOptions(
            language=opts["language"], word_timestamps=opts["words"], speakers=speakers
        )
        result = get_engine().transcribe(path, options, self._progress(info.duration))
        self._clear_progress()
        t = Transcript(
            title=os.path.basename(path),
            text=result.text,
            language=result.language,
            duration=result.duration,
            segments=result.to_dict()["segments"],
            speakers=result.speakers or {},
            model=result.model,
            timestamps=result.timestamps,
        )
        _write(exports.render(t, opts["format"]), opts["output"], newline=opts["format"] == "json")

    def _run_stored(self, transcript_id: str) -> None:
        from transcripts.tasks import run

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
        if not sys.stderr.isatty() or duration < 30:
            return None
        started = time.monotonic()

        def show(fraction: float) -> None:
            elapsed = time.monotonic() - started
            sys.stderr.write(f"\r{fraction * 100:5.1f}% of {duration / 60:.1f} min · {elapsed:.0f} s elapsed")
            sys.stderr.flush()

        self._shown = True
        return show

    def _clear_progress(self) -> None:
        if getattr(self, "_shown", False):
            sys.stderr.write("\r\033[K")


def _write(body: str | bytes, output: str | None, newline: bool) -> None:
    data = body.encode() if isinstance(body, str) else body
    if newline:
        data += b"\n"
    if output:
        try:
            with open(output, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise CommandError(f"{output}: cannot write: {exc.strerror or exc}") from exc
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
