"""faster-whisper on the CPU, the offline default.

The model is loaded lazily, one replica per concurrent transcription; where it
comes from (installed packages, a folder, a hub download only when allowed) is
workers/speech/models.py.

Audio is decoded as a stream and transcribed in windows of about
`window_seconds`, each cut in a pause that a VAD pass over the window's end
finds, so memory is that of one window however long the file, and whatever its
header claims (faster-whisper given a whole file decodes it all to floats and
builds one spectrogram: about 48 MB a minute). Audio shorter than a window is
one window: faster-whisper sees it whole. Within a window the language is found
per speech region (workers/speech/regions.py), so a recording that switches
language keeps both. Across a cut the next window is prompted with the tokens
the previous one ended with (in the same language), as faster-whisper's own
`condition_on_previous_text` does between its 30 s chunks, so a cut costs no
context; the user's prompt starts the context, and hotwords go to every window. Windows, and language runs within one, are put on the file's timeline
by `parts.merge`, as the parts of long audio are.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import av
import numpy as np

from workers.speech import models
from workers.speech.audio import measured_duration
from workers.speech.chunking import HOP_SECONDS, SAMPLE_RATE, Piece, Span, hop_rms, quietest
from workers.speech.parts import merge
from workers.speech.regions import language_runs

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
)

log = logging.getLogger(__name__)

# Labels the segments of the audio at a path with speaker ids and returns id -> name
# (workers.speech.speakers.label); given by the app, so this module loads no torch.
Diarizer = Callable[[str, list[Segment], SpeakerCount], dict[str, str]]
# faster-whisper keeps at most this many previous tokens in a prompt (max_length // 2 - 1).
PROMPT_TOKENS = 223
# After a segment decoded at a temperature above this, faster-whisper drops the context (its default).
PROMPT_RESET_TEMPERATURE = 0.5


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
        models_dir: str | Path = "var/models",
        allow_download: bool = False,
        diarizer: Diarizer | None = None,
    ):
        self.model_name = model
        self.diarizer = diarizer
        self.models_dir = Path(models_dir)
        self.allow_download = allow_download
        self._folder: str | None = None
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
        folder = models.resolve(self.model_name, self.models_dir, self.allow_download)
        model = WhisperModel(
            folder,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=max(self.threads // self.replicas, 1),
        )
        self._folder = folder
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

    def warm(self) -> None:
        """Load a replica now, so the first transcription does not wait for it."""
        with self._replica():
            pass

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
        # Measured, not declared: only progress depends on it, and it reads packets, not samples.
        total = measured_duration(path)
        if total <= self.window_seconds:
            parts = None  # one window: nothing to resume, so nothing to keep in storage
        results: list[TranscriptionResult] = []
        pieces: list[Piece] = []
        context = Context()
        end = 0.0
        with self._replica() as model:
            # After loading, so `info` reads the model's own files.
            models.check(self.info, options.language, options.task)
            for index, (offset, samples) in enumerate(windows(path, self.window_seconds)):
                end = offset + len(samples) / SAMPLE_RATE
                span = Span(index, round(offset, 3), round(end, 3))
                cached = parts.get(span) if parts else None
                if cached is None:
                    heard = _heard(progress, total, offset)
                    cached = self._by_language(model, samples, options, heard, context)
                    if parts:
                        parts.put(span, cached)
                elif self.carry_context:
                    # A window kept from an earlier attempt: its text, tokenised, is the context.
                    tokens = model.hf_tokenizer.encode(" " + cached.text).ids[-PROMPT_TOKENS:]
                    context = Context(cached.segments[-1].language if cached.segments else None, tokens)
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
        result = merge(results, pieces, end)
        # No speech anywhere: the language the model detected still says what it heard.
        result.language = result.language or next((r.language for r in results if r.language), "")
        result.model, result.engine = self.model_name, self.name
        result.timings = {"transcribe": round(time.monotonic() - started, 3)}
        if options.speakers:
            if self.diarizer is None:
                raise SpeakersError(
                    "Speaker labels are not available: this engine was built without a diarizer."
                )
            result.speakers = self.diarizer(path, result.segments, options.speakers)
            result.timings["speakers"] = round(time.monotonic() - started - result.timings["transcribe"], 3)
        return result

    def _by_language(
        self, model, samples: np.ndarray, options: TranscribeOptions, heard: Heard, context: Context
    ) -> TranscriptionResult:
        """One window, `_run` once per language stretch of its speech; once, as faster-whisper
        alone would, when the language is given, the model knows only English, or the speech
        keeps to one language. Times from the window's start; `context` is carried on."""
        if options.language or not self.info.multilingual:
            return self._run(model, samples, options, heard, context)
        runs = language_runs(model, samples)
        if len(runs) <= 1:
            language = runs[0].language if runs else None
            result = self._run(model, samples, replace(options, language=language), heard, context)
            for s in result.segments:
                s.language_probability = runs[0].probability if runs else None
            return result
        found = []
        for run in runs:
            at = run.start / SAMPLE_RATE
            part = self._run(
                model,
                samples[run.start : run.end],
                replace(options, language=run.language),
                lambda seconds, at=at: heard(seconds + at),
                context,
            )
            for s in part.segments:
                s.language_probability = run.probability
            found.append(part)
        spans = [Span(i, r.start / SAMPLE_RATE, r.end / SAMPLE_RATE) for i, r in enumerate(runs)]
        return merge(found, [Piece(s, "", s.start) for s in spans], len(samples) / SAMPLE_RATE)

    def _run(
        self, model, samples: np.ndarray, options: TranscribeOptions, heard: Heard, context: Context
    ) -> TranscriptionResult:
        """faster-whisper on samples, their times from the first sample; `heard` is told how
        far it got. `context` goes in as the prompt and is updated with what was said;
        text in another language than the one asked for is not carried into it."""
        same = not options.language or context.language in (None, options.language)
        carried = context.tokens if self.carry_context and same else []
        # The VAD filter keeps silence and music from turning into invented text.
        kwargs = dict(
            language=options.language,
            task=options.task,
            hotwords=options.hotwords or None,
            word_timestamps=options.word_timestamps,
            beam_size=self.beam_size,
            vad_filter=True,
        )
        if self.batch_size > 0:
            from faster_whisper import BatchedInferencePipeline

            segments_iter, info = BatchedInferencePipeline(model).transcribe(
                samples, initial_prompt=options.prompt or None, batch_size=self.batch_size, **kwargs
            )
        else:
            # The previous window's last tokens, else the user's prompt. Within a file faster-whisper
            # too lets the prompt age out of the context; prompt and carried text together made
            # tiny.en repeat the prompt as speech (tests/test_localengine_languages.py). The
            # vocabulary's hotwords go into every 30 s chunk's prompt whatever the context.
            prompt = carried or options.prompt or None
            segments_iter, info = model.transcribe(samples, initial_prompt=prompt, **kwargs)
        segments = []
        tokens = list(carried)
        probability = None if options.language else round(info.language_probability, 3)
        # Nothing is decoded until the generator is consumed: the work happens here.
        for s in segments_iter:
            tokens.extend(s.tokens)
            if s.temperature is not None and s.temperature > PROMPT_RESET_TEMPERATURE:
                tokens = []
            words = (
                None if s.words is None else [Word(w.start, w.end, w.word, w.probability) for w in s.words]
            )
            # `merge` keeps each cue inside its window: none outlasts the audio.
            segments.append(
                Segment(
                    s.start,
                    s.end,
                    s.text.strip(),
                    words,
                    language=info.language,
                    language_probability=probability,
                )
            )
            heard(s.end)
        context.language, context.tokens = info.language, tokens[-PROMPT_TOKENS:]
        duration = len(samples) / SAMPLE_RATE
        return TranscriptionResult(
            join_text(segments), info.language, duration, segments, self.model_name, self.name
        )


# Told the seconds of audio transcribed so far, counted from the samples' start.
Heard = Callable[[float], None]


def _heard(progress: Progress | None, total: float, offset: float) -> Heard:
    """Seconds into a window, reported as the share of the file done."""
    if not progress or not total:
        return lambda seconds: None
    return lambda seconds: progress(min((seconds + offset) / total, 1.0))


@dataclass
class Context:
    """What the next stretch of audio is prompted with: the last tokens said, in their language."""

    language: str | None = None
    tokens: list[int] = field(default_factory=list)


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
