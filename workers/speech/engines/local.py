"""faster-whisper on the CPU, the offline default.

The model is loaded lazily and once per process; where it comes from (installed
packages, a folder, a hub download only when allowed) is workers/speech/models.py.
The language is found per speech region (workers/speech/languages.py).

Audio longer than `window_threshold` is decoded as a stream and transcribed in
windows of about `window_seconds`, each ending at a pause, so memory stays that
of one window however long the file (faster-whisper alone decodes the whole file
to floats: 690 MB for three hours, plus its spectrogram). Shorter audio goes to
faster-whisper whole: windowing would only cost time there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from workers.speech import models
from workers.speech.audio import declared_duration
from workers.speech.chunking import HOP_SECONDS, SAMPLE_RATE, Span, hop_rms, quietest
from workers.speech.regions import language_runs, summary

from . import (
    PartCache,
    Progress,
    Segment,
    SpeakerCount,
    SpeakersError,
    TranscribeOptions,
    TranscriptionResult,
    Word,
    join_text,
    languages_of,
)

log = logging.getLogger(__name__)

# Labels the segments of the audio at a path with speaker ids and returns id -> name
# (workers.speech.speakers.label); given by the app, so this module loads no torch.
Diarizer = Callable[[str, list[Segment], SpeakerCount], dict[str, str]]


class LocalEngine:
    name = "local"

    def __init__(
        self,
        model: str,
        device: str,
        compute_type: str,
        threads: int,
        beam_size: int,
        window_threshold: float = 1800.0,
        window_seconds: float = 600.0,
        models_dir: str | Path = "var/models",
        allow_download: bool = False,
        diarizer: Diarizer | None = None,
    ):
        self.model_name = model
        self.diarizer = diarizer
        self.models_dir = Path(models_dir)
        self.allow_download = allow_download
        self._folder: str | None = None
        self.window_threshold = window_threshold
        self.window_seconds = window_seconds
        self.device = device
        self.compute_type = compute_type
        self.threads = threads
        self.beam_size = beam_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                started = time.monotonic()
                self._folder = models.resolve(self.model_name, self.models_dir, self.allow_download)
                self._model = WhisperModel(
                    self._folder,
                    device=self.device,
                    compute_type=self.compute_type,
                    cpu_threads=self.threads,
                )
                log.info("loaded model %s in %.2fs", self.model_name, time.monotonic() - started)
            return self._model

    @property
    def info(self) -> models.ModelInfo:
        """What the model can do: from its files once loaded, from its name before."""
        return models.info(self.model_name, self._folder)

    def transcribe(
        self,
        path: str,
        options: TranscribeOptions,
        progress: Progress | None = None,
        parts: PartCache | None = None,
    ) -> TranscriptionResult:
        started = time.monotonic()
        self.model  # noqa: B018 - loaded first, so `info` reads the model's own files
        models.check(self.info, options.language, options.task)
        total = declared_duration(path)
        if total <= self.window_threshold:
            segments, language, duration = self._by_language(path, options, progress, total)
        else:
            segments, language, duration = self._windowed(path, options, progress, parts, total)
        languages = languages_of(segments)
        timings = {"transcribe": round(time.monotonic() - started, 3)}
        speakers = None
        if options.speakers:
            if self.diarizer is None:
                raise SpeakersError(
                    "Speaker labels are not available: this engine was built without a diarizer."
                )
            speakers = self.diarizer(path, segments, options.speakers)
            timings["speakers"] = round(time.monotonic() - started - timings["transcribe"], 3)
        return TranscriptionResult(
            text=join_text(segments),
            language=next(iter(languages), language),
            duration=round(duration, 3),
            segments=segments,
            model=self.model_name,
            engine=self.name,
            timings=timings,
            languages=languages,
            speakers=speakers,
        )

    def _by_language(self, audio, options: TranscribeOptions, progress, total: float, offset: float = 0.0):
        """`_run` once per language stretch of the speech; once, as faster-whisper alone
        would, when the language is given, the model knows only English, or the speech
        keeps to one language."""
        if options.language or not self.info.multilingual:
            return self._run(audio, options, progress, total, offset)
        from faster_whisper.audio import decode_audio

        samples = audio if isinstance(audio, np.ndarray) else decode_audio(audio, SAMPLE_RATE)
        runs = language_runs(self.model, samples)
        if len(runs) <= 1:
            language = runs[0].language if runs else None
            segments, _, duration = self._run(
                samples, replace(options, language=language), progress, total, offset
            )
            for s in segments:
                s.language_probability = runs[0].probability if runs else None
            return segments, language or "", duration
        segments = []
        for run in runs:
            found, _, _ = self._run(
                samples[run.start : run.end],
                replace(options, language=run.language),
                progress,
                total,
                offset + run.start / SAMPLE_RATE,
            )
            for s in found:
                s.language_probability = run.probability
            segments.extend(found)
        return segments, next(iter(summary(runs))), len(samples) / SAMPLE_RATE

    def _run(self, audio, options: TranscribeOptions, progress, total: float, offset: float = 0.0):
        """faster-whisper on a path or an array; times shifted by `offset`, ends clamped to the audio."""
        # The VAD filter keeps silence and music from turning into invented text.
        segments_iter, info = self.model.transcribe(
            audio,
            language=options.language,
            task=options.task,
            initial_prompt=options.prompt or None,
            hotwords=options.hotwords or None,
            word_timestamps=options.word_timestamps,
            beam_size=self.beam_size,
            vad_filter=True,
        )
        segments = []
        # Nothing is decoded until the generator is consumed: the work happens here.
        for s in segments_iter:
            words = None
            if s.words is not None:
                words = [
                    Word(round(w.start + offset, 3), round(w.end + offset, 3), w.word, w.probability)
                    for w in s.words
                ]
            # Whisper can place an end past the last sample; cues must not outlast the audio.
            end = min(s.end, info.duration)
            start = round(min(s.start, end) + offset, 3)
            probability = None if options.language else round(info.language_probability, 3)
            segments.append(
                Segment(
                    start,
                    round(end + offset, 3),
                    s.text.strip(),
                    words,
                    language=info.language,
                    language_probability=probability,
                )
            )
            if progress and total:
                progress(min((s.end + offset) / total, 1.0))
        return segments, info.language, info.duration

    def _windowed(self, path: str, options, progress, parts: PartCache | None, total: float):
        segments: list[Segment] = []
        languages: list[str] = []
        end = 0.0
        for index, (offset, samples) in enumerate(windows(path, self.window_seconds)):
            end = offset + len(samples) / SAMPLE_RATE
            span = Span(index, round(offset, 3), round(end, 3))
            cached = parts.get(span) if parts else None
            if cached is None:
                found, language, _ = self._by_language(samples, options, progress, total, offset)
                cached = TranscriptionResult(
                    join_text(found), language, span.duration, found, self.model_name, self.name
                )
                if parts:
                    parts.put(span, cached)
            segments.extend(cached.segments)
            languages.append(cached.language)
            log.info(
                "window %d (%.0f–%.0f s): %d segments", index + 1, span.start, span.end, len(cached.segments)
            )
        language = max(set(languages), key=languages.count) if languages else ""
        return segments, language, end


def windows(path: str, seconds: float) -> Iterator[tuple[float, np.ndarray]]:
    """(offset, mono 16 kHz float32 samples) for consecutive windows of about `seconds`,
    each ending at the pause nearest its end, decoded as a stream: at most one
    window and the tail carried into the next are in memory."""
    size = int(seconds * SAMPLE_RATE)
    hop = int(HOP_SECONDS * SAMPLE_RATE)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    pending: list[np.ndarray] = []
    count = 0
    offset = 0.0
    with av.open(path, metadata_errors="ignore") as container:
        for frame in container.decode(audio=0):
            frame.pts = None
            for f in resampler.resample(frame):
                pending.append(f.to_ndarray().reshape(-1))
                count += f.samples
            if count >= size:
                samples = np.concatenate(pending)
                rms = hop_rms(samples)
                # The pause nearest the window's end, no earlier than halfway into it.
                cut = quietest(rms, size // 2 // hop, size // hop, size // hop) * hop
                yield offset, samples[:cut]
                offset += cut / SAMPLE_RATE
                pending, count = [samples[cut:]], len(samples) - cut
        for f in resampler.resample(None):
            pending.append(f.to_ndarray().reshape(-1))
    if pending and sum(len(p) for p in pending):
        yield offset, np.concatenate(pending)
