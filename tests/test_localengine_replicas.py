"""TRANSCRIBE_WORKERS > 1: each concurrent transcription gets its own model replica
and its share of the threads, never a model another transcription is using."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from workers.speech.engines import TranscribeOptions
from workers.speech.engines.local import LocalEngine

from .conftest import fixture_path


@pytest.fixture
def loads(monkeypatch):
    import faster_whisper

    seen: list[int] = []
    real = faster_whisper.WhisperModel

    class Counting(real):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs["cpu_threads"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(faster_whisper, "WhisperModel", Counting)
    return seen


def transcribe_twice_at_once(engine: LocalEngine) -> list[str]:
    files = [fixture_path("speech.mp3"), fixture_path("two_sentences.mp3")]
    with ThreadPoolExecutor(2) as pool:
        results = pool.map(lambda p: engine.transcribe(str(p), TranscribeOptions()), files)
        return [r.text.lower() for r in results]


def test_two_workers_get_two_replicas_with_half_the_threads_each(loads):
    fox, budget = transcribe_twice_at_once(LocalEngine("tiny.en", "cpu", "int8", 2, 5, replicas=2))
    assert loads == [1, 1]
    assert "fox" in fox and "budget" in budget


def test_one_worker_never_shares_its_model_between_two_transcriptions(loads):
    engine = LocalEngine("tiny.en", "cpu", "int8", 2, 5, replicas=1)
    fox, budget = transcribe_twice_at_once(engine)
    assert loads == [2]  # one model, all the threads; the second transcription waited its turn
    assert "fox" in fox and "budget" in budget
    engine.transcribe(str(fixture_path("speech.mp3")), TranscribeOptions())
    assert loads == [2]  # and it is kept for the next
