"""The local engine for real: bundled tiny.en, loaded once, VAD on."""

from __future__ import annotations

import pytest

from transcripts.engines import build, get_engine
from workers.speech.engines import EngineError, TranscribeOptions
from workers.speech.models import resolve

from .conftest import fixture_path


def test_the_model_loads_once_per_process(monkeypatch, settings):
    import faster_whisper

    loads = []
    real = faster_whisper.WhisperModel

    def counting(*args, **kwargs):
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(faster_whisper, "WhisperModel", counting)
    engine = build("local")
    first = engine.transcribe(str(fixture_path("speech.mp3")), TranscribeOptions())
    second = engine.transcribe(str(fixture_path("speech.ogg")), TranscribeOptions())
    assert len(loads) == 1
    assert "fox" in first.text.lower() and "fox" in second.text.lower()
    assert first.model == "tiny.en" and first.engine == "local" and first.language == "en"


def test_segments_are_ordered_within_the_audio_and_report_progress(settings):
    seen = []
    engine = build("local")
    result = engine.transcribe(str(fixture_path("two_sentences.mp3")), TranscribeOptions(), seen.append)
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)
    assert all(0 <= s.start <= s.end <= result.duration for s in result.segments)
    assert "budget" in result.text.lower() and "friday" in result.text.lower()
    assert seen and seen[-1] <= 1.0


def test_get_engine_reuses_one_engine(settings):
    settings.TRANSCRIBE_ENGINE = "local"
    assert get_engine() is get_engine()


def test_an_unknown_model_name_is_refused_not_downloaded(tmp_path):
    with pytest.raises(EngineError, match="downloads are off"):
        resolve("large-v3", tmp_path)
