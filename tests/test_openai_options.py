"""What the openai engine asks for beyond plain transcription (issue 9): the prompt,
translation through /v1/audio/translations, and speakers from gpt-4o-transcribe-diarize."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from workers.speech import engines
from workers.speech.engines import EngineError, TranscribeOptions, get_engine

from .conftest import fixture_path
from .openai_server import Behaviour, FakeOpenAI, long_speech_opus

KEY = "sk-test-key"
# Stands in for workers.speech.speakers.SpeakerCount (found automatically): the openai engine
# only needs to know that speakers were asked for, since the API takes no count.
ANY_NUMBER = SimpleNamespace(min=1, max=8)


@pytest.fixture
def server(settings, monkeypatch):
    with FakeOpenAI(Behaviour(key=KEY)) as srv:
        settings.OPENAI_API_KEY = KEY
        settings.OPENAI_BASE_URL = srv.base_url
        settings.OPENAI_TRANSCRIBE_MODEL = "whisper-1"
        monkeypatch.setattr(engines, "_engines", {})
        yield srv


def test_a_translation_goes_to_the_translations_endpoint_and_comes_back_in_english(server):
    options = TranscribeOptions(task="translate", language="de", prompt="Grüße an Jürgen")
    result = get_engine("openai").transcribe(str(fixture_path("speech.mp3")), options)
    (seen,) = server.seen
    assert seen.path == "/v1/audio/translations"
    assert seen.fields["model"] == ["whisper-1"] and seen.fields["prompt"] == ["Grüße an Jürgen"]
    assert "language" not in seen.fields  # the endpoint takes none: it answers in English
    assert result.language == "en" and result.timestamps
    assert result.text.startswith("translated sound 1 at 0.00")


def test_a_translation_with_another_model_is_refused_before_anything_is_sent(server, settings):
    settings.OPENAI_TRANSCRIBE_MODEL = "gpt-4o-transcribe"
    with pytest.raises(
        EngineError, match="serves whisper-1 only; OPENAI_TRANSCRIBE_MODEL is gpt-4o-transcribe"
    ):
        get_engine("openai").transcribe(str(fixture_path("speech.mp3")), TranscribeOptions(task="translate"))
    assert server.seen == []


def test_an_unknown_task_is_refused(server):
    with pytest.raises(EngineError, match="Unknown task 'summarise'"):
        get_engine("openai").transcribe(str(fixture_path("speech.mp3")), TranscribeOptions(task="summarise"))
    assert server.seen == []


def test_speakers_come_from_the_diarizing_model_as_ids_in_the_order_heard(server, tmp_path):
    path = tmp_path / "interview.ogg"
    layout = long_speech_opus(str(path), 45)  # past 30 s: the API wants a chunking strategy
    options = TranscribeOptions(speakers=ANY_NUMBER, prompt="Interview", language="en")
    result = get_engine("openai").transcribe(str(path), options)
    (seen,) = server.seen
    assert seen.fields["model"] == ["gpt-4o-transcribe-diarize"]
    assert seen.fields["response_format"] == ["diarized_json"]
    assert seen.fields["chunking_strategy"] == ["auto"]
    assert "prompt" not in seen.fields  # the diarizing model takes none
    assert result.model == "gpt-4o-transcribe-diarize" and result.timestamps
    assert len(result.segments) == layout.count
    assert [s.speaker for s in result.segments] == ["S1", "S2"] * (layout.count // 2) + ["S1"] * (
        layout.count % 2
    )
    assert result.to_dict()["segments"][0]["speaker"] == "S1"


def test_short_audio_is_diarized_without_a_chunking_strategy(server):
    result = get_engine("openai").transcribe(
        str(fixture_path("speech.mp3")), TranscribeOptions(speakers=ANY_NUMBER)
    )
    assert "chunking_strategy" not in server.seen[0].fields
    assert result.segments[0].speaker == "S1"


def test_without_speakers_segments_carry_no_speaker(server):
    result = get_engine("openai").transcribe(str(fixture_path("speech.mp3")), TranscribeOptions())
    assert "speaker" not in result.to_dict()["segments"][0]


def test_speakers_in_a_translation_are_refused(server):
    with pytest.raises(EngineError, match="cannot label speakers in a translation"):
        get_engine("openai").transcribe(
            str(fixture_path("speech.mp3")), TranscribeOptions(task="translate", speakers=ANY_NUMBER)
        )
