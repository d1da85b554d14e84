"""Language per speech region, so a recording that switches language keeps both.

faster-whisper decides one language from the first 30 seconds and then forces
every later window into it: the German half of an English-then-German meeting
comes out as invented English. Here each pause-bounded speech region (found by
faster-whisper's own Silero VAD) gets Whisper's `detect_language`; neighbouring
regions of one language join into a run, and each run is transcribed in its
language. Short or unsure regions take their neighbours' language, and a run too
short or unsure to trust is absorbed, so a one-language file stays one run and is
transcribed exactly as faster-whisper alone would with that language.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

SAMPLE_RATE = 16000
# Whisper's detection on a second or two of speech is a guess.
MIN_REGION_SECONDS = 2.0
MIN_PROBABILITY = 0.5
# A language change must hold this long, this surely, to split the transcription.
MIN_RUN_SECONDS = 4.0
MIN_RUN_PROBABILITY = 0.7
VAD = VadOptions(min_silence_duration_ms=500, speech_pad_ms=200, max_speech_duration_s=30)


@dataclass
class Run:
    """Samples [start, end) in one language; `probability` is the model's confidence, weighted by speech."""

    start: int
    end: int
    language: str
    probability: float
    speech: float = 0.0  # seconds of speech the detection saw

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


def language_runs(model, samples: np.ndarray) -> list[Run]:
    """Runs covering all of `samples` (mono 16 kHz float32), one per language stretch.
    Empty when there is no speech. `model` is a faster_whisper.WhisperModel."""
    regions = [(c["start"], c["end"]) for c in get_speech_timestamps(samples, VAD)]
    if not regions:
        return []
    found: list[Run | None] = []
    for start, end in regions:
        if (end - start) / SAMPLE_RATE < MIN_REGION_SECONDS:
            found.append(None)
            continue
        language, probability, _ = model.detect_language(audio=samples[start:end])
        ok = probability >= MIN_PROBABILITY
        found.append(Run(start, end, language, probability, (end - start) / SAMPLE_RATE) if ok else None)
    if not any(found):
        # Only short bits of speech: one detection over all of it.
        language, probability, _ = model.detect_language(audio=samples)
        return [Run(0, len(samples), language, probability, 1.0)]
    runs = _merge(_fill(found, regions))
    runs = _absorb(runs)
    # Cover the whole file: cut halfway through each pause between runs.
    runs[0].start, runs[-1].end = 0, len(samples)
    for left, right in zip(runs, runs[1:], strict=False):
        left.end = right.start = (left.end + right.start) // 2
    return runs


def _fill(found: list[Run | None], regions: list[tuple[int, int]]) -> list[Run]:
    """Regions without a trusted detection take the language before them (or after, at the start)."""
    known = [r for r in found if r]
    out, last = [], known[0]
    for run, (start, end) in zip(found, regions, strict=True):
        if run:
            last = run
            out.append(run)
        else:
            out.append(Run(start, end, last.language, last.probability, 0.0))
    return out


def _merge(runs: list[Run]) -> list[Run]:
    merged: list[Run] = []
    for run in runs:
        if merged and merged[-1].language == run.language:
            prev = merged[-1]
            speech = prev.speech + run.speech
            if speech:
                prev.probability = (prev.probability * prev.speech + run.probability * run.speech) / speech
            prev.end, prev.speech = run.end, speech
        else:
            merged.append(Run(run.start, run.end, run.language, run.probability, run.speech))
    return merged


def _absorb(runs: list[Run]) -> list[Run]:
    """Fold runs too short or unsure to trust into a neighbour, the weakest first."""
    while len(runs) > 1:
        weak = [
            i
            for i, r in enumerate(runs)
            if r.seconds < MIN_RUN_SECONDS or r.probability < MIN_RUN_PROBABILITY
        ]
        if not weak:
            break
        i = min(weak, key=lambda i: runs[i].speech)
        into = i - 1 if i > 0 else 1
        runs[into].start, runs[into].end = (
            min(runs[into].start, runs[i].start),
            max(runs[into].end, runs[i].end),
        )
        del runs[i]
        runs = _merge(runs)
    return runs


def summary(runs: list[Run]) -> dict[str, float]:
    """Language -> the model's confidence, the language with the most speech first."""
    seconds: dict[str, float] = {}
    weighted: dict[str, float] = {}
    for r in runs:
        seconds[r.language] = seconds.get(r.language, 0.0) + r.seconds
        weighted[r.language] = weighted.get(r.language, 0.0) + r.probability * r.seconds
    order = sorted(seconds, key=seconds.get, reverse=True)
    return {lang: round(weighted[lang] / seconds[lang], 3) for lang in order}
