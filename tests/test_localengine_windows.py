"""Windowing costs no accuracy: a file cut into windows at pauses reads as well as
the whole file (issue 11), on speech the suite makes."""

from __future__ import annotations

import pytest

from transcripts.wer import word_error_rate
from workers.speech.engines import TranscribeOptions
from workers.speech.engines.local import LocalEngine, windows

from .read_aloud import read_aloud

SPEECH_SECONDS = 150
WINDOW_SECONDS = 45
# WER points a windowed transcript may lose against the whole file (issue 11).
BOUND = 0.003


@pytest.fixture(scope="module")
def reading(tmp_path_factory):
    path = tmp_path_factory.mktemp("reading") / "reading.wav"
    return path, read_aloud(path, SPEECH_SECONDS)


def engine(window_seconds: float) -> LocalEngine:
    return LocalEngine("tiny.en", "cpu", "int8", 2, 5, window_seconds=window_seconds)


def test_windows_are_cut_in_pauses_and_lose_no_sample(reading):
    import av
    import numpy as np

    path, _ = reading
    got = list(windows(str(path), WINDOW_SECONDS))
    assert len(got) >= 3
    with av.open(str(path)) as c:
        total = c.duration / av.time_base
    assert sum(len(s) for _, s in got) == pytest.approx(total * 16000, abs=160)
    for _, samples in got[:-1]:
        assert len(samples) <= WINDOW_SECONDS * 16000
        # The last 50 ms before each cut are silence: no word is split.
        assert np.abs(samples[-800:]).max() < 0.01


def test_windowed_and_whole_file_transcripts_agree_within_the_bound(reading):
    path, reference = reading
    whole = engine(10 * SPEECH_SECONDS).transcribe(str(path), TranscribeOptions())
    windowed = engine(WINDOW_SECONDS).transcribe(str(path), TranscribeOptions())
    whole_wer = word_error_rate(reference, whole.text)
    windowed_wer = word_error_rate(reference, windowed.text)
    assert windowed_wer <= whole_wer + BOUND, (whole_wer, windowed_wer)
    # Every sentence once: nothing dropped or doubled at a cut.
    assert abs(len(windowed.text.split()) - len(whole.text.split())) <= 0.02 * len(whole.text.split())
    starts = [s.start for s in windowed.segments]
    assert starts == sorted(starts) and windowed.segments[-1].end <= windowed.duration
    assert windowed.duration == pytest.approx(whole.duration, abs=0.1)
