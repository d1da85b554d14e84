"""The offline diarizer on a conversation the tests make, scored by diarization error rate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import simpleder

from tests.conversation import LINES, make_conversation
from workers.speech.speakers import SpeakerCount, SpeakersError, Turn, diarize, speaker_at

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    return make_conversation(tmp_path_factory.mktemp("conversation"))


def _der(reference, turns: list[Turn]) -> float:
    return simpleder.DER(reference, [(t.speaker, t.start, t.end) for t in turns])


@pytest.mark.parametrize("asked", ["auto", "2", "1-3"])
def test_it_finds_who_spoke_when_in_a_two_person_conversation(conversation, asked):
    path, reference = conversation
    turns = diarize(str(path), SpeakerCount.parse(asked))
    assert {t.speaker for t in turns} == {"S1", "S2"}
    assert _der(reference, turns) <= 0.15
    # The first voice heard is Speaker 1, and the turns alternate as spoken.
    assert [speaker_at(turns, start, end) for _, start, end in reference] == ["S1", "S2"] * 4


def test_one_voice_is_one_speaker(tmp_path):
    path, _ = make_conversation(tmp_path, [("A", text) for _, text in LINES[:4]])
    assert {t.speaker for t in diarize(str(path))} == {"S1"}


def test_an_exact_count_is_honoured_even_when_the_voices_say_otherwise(conversation):
    path, _ = conversation
    assert len({t.speaker for t in diarize(str(path), SpeakerCount.parse("3"))}) == 3
    assert len({t.speaker for t in diarize(str(path), SpeakerCount.parse("1"))}) == 1


def test_a_range_that_excludes_the_natural_count_is_clamped(conversation):
    path, _ = conversation
    assert len({t.speaker for t in diarize(str(path), SpeakerCount.parse("3-4"))}) == 3


def test_silence_has_no_speakers(tmp_path):
    path = tmp_path / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(path), "trim", "0", "3"], check=True)
    assert diarize(str(path)) == []


def test_it_downloads_nothing(conversation):
    """A fresh process with every network connection refused still diarizes."""
    path, _ = conversation
    code = f"""
import socket
def refuse(*a, **k):
    raise OSError("network used")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from workers.speech.speakers import diarize
print(sorted({{t.speaker for t in diarize({str(path)!r})}}))
"""
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(path.parent)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "['S1', 'S2']"


@pytest.mark.parametrize(
    "text, expected",
    [("", SpeakerCount()), ("auto", SpeakerCount()), ("2", SpeakerCount(2, 2)), ("2-4", SpeakerCount(2, 4))],
)
def test_a_speaker_count_reads_as_a_number_or_a_range(text, expected):
    assert SpeakerCount.parse(text) == expected


@pytest.mark.parametrize("text", ["two", "0", "4-2", "2-99", "-1", "1,2", "3-", "9" * 50])
def test_a_bad_speaker_count_is_refused_with_a_reason(text):
    with pytest.raises(SpeakersError, match="speakers|range|number"):
        SpeakerCount.parse(text)


def test_a_segment_goes_to_the_speaker_it_overlaps_most():
    turns = [Turn(0.0, 4.0, "S1"), Turn(4.5, 9.0, "S2")]
    assert speaker_at(turns, 3.0, 6.0) == "S2"  # 1.5 s of S2 against 1 s of S1
    assert speaker_at(turns, 0.5, 2.0) == "S1"
    assert speaker_at(turns, 9.5, 10.0) == "S2"  # no overlap: the nearest turn
    assert speaker_at([], 0.0, 1.0) is None


def test_long_recordings_cluster_a_sample_and_give_every_window_its_nearest_speaker(monkeypatch):
    import numpy as np

    from workers.speech import speakers

    monkeypatch.setattr(speakers, "MAX_CLUSTERED", 40)
    rng = np.random.default_rng(0)
    voices = np.zeros((2, 256))
    voices[0, :128] = voices[1, 128:] = 1.0  # two voices far apart, as real speakers' embeddings are
    truth = rng.integers(0, 2, size=500)
    windows = voices[truth] + np.abs(rng.normal(scale=0.3, size=(500, 256)))
    windows /= np.linalg.norm(windows, axis=1, keepdims=True)
    labels = speakers._labels(windows, SpeakerCount())
    assert len(set(labels)) == 2
    # The same partition as the truth, whichever number each side got.
    assert (labels == truth).all() or (labels != truth).all()


def test_a_quiet_recording_is_raised_to_the_level_the_encoder_knows(conversation, tmp_path):
    path, reference = conversation
    quiet = tmp_path / "quiet.wav"
    subprocess.run(["sox", str(path), str(quiet), "vol", "0.03"], check=True)  # about -30 dB
    turns = diarize(str(quiet))
    assert {t.speaker for t in turns} == {"S1", "S2"}
    assert _der(reference, turns) <= 0.15
