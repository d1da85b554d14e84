"""The openai engine, through the real `openai` client over HTTP to tests/openai_server.py."""

from __future__ import annotations

import logging

import pytest

from transcripts.models import COMPLETED, FAILED, Transcript
from workers.speech import engines
from workers.speech.engines import EngineError, TranscribeOptions, get_engine

from .conftest import fixture_path, upload_file
from .openai_server import Behaviour, FakeOpenAI, long_speech_opus

KEY = "sk-test-key"


@pytest.fixture
def server(settings, monkeypatch):
    """A fake API on 127.0.0.1, selected as the engine through settings, as in production."""
    with FakeOpenAI(Behaviour(key=KEY)) as srv:
        settings.TRANSCRIBE_ENGINE = "openai"
        settings.OPENAI_API_KEY = KEY
        settings.OPENAI_BASE_URL = srv.base_url
        settings.OPENAI_TRANSCRIBE_MODEL = "whisper-1"
        settings.OPENAI_TIMEOUT_SECONDS = 10
        settings.OPENAI_MAX_RETRIES = 3
        # get_engine builds each engine once per process; each test builds its own.
        monkeypatch.setattr(engines, "_engines", {})
        yield srv


def upload(client, name: str, as_name: str | None = None) -> Transcript:
    client.post("/upload/", {"audio": upload_file(name, as_name), "title": "Call"})
    return Transcript.objects.get()


@pytest.mark.django_db(transaction=True)
def test_it_transcribes_a_short_upload_through_the_api(alice_client, server):
    t = upload(alice_client, "speech.mp3")
    assert t.status == COMPLETED, t.error
    assert t.engine == "openai" and t.model == "whisper-1" and t.timestamps
    assert t.language == "en"
    assert 6.0 < t.duration < 7.0
    assert t.text.startswith("sound 1 at 0.00 of 6.3") and "in speech.mp3" in t.text
    assert 0 <= t.segments[0]["start"] < t.segments[-1]["end"] <= t.duration
    (seen,) = server.seen
    assert seen.fields["model"] == ["whisper-1"]
    assert seen.fields["response_format"] == ["verbose_json"]
    assert seen.fields["timestamp_granularities[]"] == ["segment"]


@pytest.mark.django_db(transaction=True)
def test_the_file_goes_out_named_for_its_content_not_its_upload_name(alice_client, server):
    t = upload(alice_client, "speech.ogg", as_name="memo.mp3")
    assert t.status == COMPLETED, t.error
    assert server.seen[0].filename == "memo.ogg"


def test_language_prompt_and_word_timestamps_pass_through(server):
    options = TranscribeOptions(language="en", prompt="Standup notes", word_timestamps=True)
    result = get_engine().transcribe(str(fixture_path("speech.flac")), options)
    fields = server.seen[0].fields
    assert fields["language"] == ["en"] and fields["prompt"] == ["Standup notes"]
    assert fields["timestamp_granularities[]"] == ["segment", "word"]
    words = result.segments[0].words
    assert [w.word for w in words][:3] == ["sound", "1", "at"]
    assert all(a.start <= b.start for a, b in zip(words, words[1:], strict=False))


@pytest.mark.django_db(transaction=True)
def test_a_text_only_model_gives_one_segment_and_the_page_says_there_are_no_timestamps(
    alice_client, server, settings
):
    settings.OPENAI_TRANSCRIBE_MODEL = "gpt-4o-transcribe"
    t = upload(alice_client, "speech.mp3")
    assert t.status == COMPLETED, t.error
    assert server.seen[0].fields["response_format"] == ["json"]
    assert "timestamp_granularities[]" not in server.seen[0].fields
    assert t.timestamps is False
    assert len(t.segments) == 1 and t.segments[0]["text"] == t.text
    page = alice_client.get(f"/t/{t.id}/").content.decode()
    assert "the model gpt-4o-transcribe returns text only" in page


def test_a_server_without_timestamp_granularities_still_gives_segments(server):
    server.behaviour.refuse_params = ("timestamp_granularities",)
    result = get_engine().transcribe(str(fixture_path("speech.mp3")), TranscribeOptions())
    assert result.timestamps and result.segments[0].text.startswith("sound 1")
    assert [s.status for s in server.seen] == [400, 200]
    # It remembers: the next file goes straight to what works.
    get_engine().transcribe(str(fixture_path("speech.mp3")), TranscribeOptions())
    assert [s.status for s in server.seen] == [400, 200, 200]


def test_a_server_without_verbose_json_falls_back_to_text_without_timestamps(server):
    server.behaviour.refuse_formats = ("verbose_json", "json")
    result = get_engine().transcribe(str(fixture_path("speech.mp3")), TranscribeOptions())
    assert result.timestamps is False
    assert result.text.startswith("sound 1 at 0.00")
    assert server.seen[-1].fields["response_format"] == ["text"]


@pytest.mark.django_db(transaction=True)
def test_a_429_waits_as_long_as_retry_after_says(alice_client, server):
    server.behaviour.fail = {"*": [429]}
    server.behaviour.retry_after = "2"
    t = upload(alice_client, "speech.mp3")
    assert t.status == COMPLETED, t.error
    first, second = server.seen
    assert (first.status, second.status) == (429, 200)
    assert second.started - first.finished >= 1.9


@pytest.mark.django_db(transaction=True)
def test_a_server_error_twice_then_success_completes(alice_client, server):
    server.behaviour.fail = {"*": [500, 503]}
    t = upload(alice_client, "speech.mp3")
    assert t.status == COMPLETED, t.error
    assert [s.status for s in server.seen] == [500, 503, 200]


@pytest.mark.django_db(transaction=True)
def test_a_malformed_answer_is_retried(alice_client, server):
    server.behaviour.malformed = 1
    t = upload(alice_client, "speech.mp3")
    assert t.status == COMPLETED, t.error
    assert len(server.seen) == 2


@pytest.mark.django_db(transaction=True)
def test_a_4xx_fails_at_once_with_the_apis_message(alice_client, server, settings):
    settings.OPENAI_TRANSCRIBE_MODEL = "whisper-9"
    t = upload(alice_client, "speech.mp3")
    assert t.status == FAILED
    assert "The model `whisper-9` does not exist." in t.error
    assert len(server.seen) == 1
    page = alice_client.get(f"/t/{t.id}/").content.decode()
    assert "does not exist" in page


@pytest.mark.django_db(transaction=True)
def test_a_server_that_never_answers_in_time_ends_as_failed(alice_client, server, settings):
    settings.OPENAI_TIMEOUT_SECONDS = 0.5
    settings.OPENAI_TIMEOUT_PER_AUDIO_SECOND = 0  # a fixed limit, which the server overruns
    settings.OPENAI_MAX_RETRIES = 1
    settings.TRANSCRIBE_MAX_ATTEMPTS = 1
    server.behaviour.delay = 3
    t = upload(alice_client, "speech.mp3")
    assert t.status == FAILED
    assert "no answer within OPENAI_TIMEOUT_SECONDS" in t.error and "tried 2 times" in t.error


@pytest.mark.django_db(transaction=True)
def test_the_key_never_reaches_the_error_or_the_log(alice_client, server, settings, caplog):
    secret = "sk-live-DoNotLeakThis-0123456789"
    settings.OPENAI_API_KEY = secret
    server.behaviour.echo_key = True
    with caplog.at_level(logging.DEBUG):
        t = upload(alice_client, "speech.mp3")
    assert t.status == FAILED
    assert "Incorrect API key provided" in t.error
    assert secret not in t.error and "DoNotLeakThis" not in t.error
    assert "DoNotLeakThis" not in caplog.text
    assert "DoNotLeakThis" not in alice_client.get(f"/t/{t.id}/").content.decode()


def test_it_refuses_to_start_without_a_key(server, settings):
    settings.OPENAI_API_KEY = ""
    with pytest.raises(EngineError, match="OPENAI_API_KEY is not set"):
        get_engine()


def test_concurrency_stays_within_openai_max_concurrency(server, settings, tmp_path):
    settings.OPENAI_MAX_CONCURRENCY = 3
    settings.OPENAI_CHUNK_SECONDS = 10
    server.behaviour.delay = 1.0  # long enough that three overlap even on a loaded machine
    path = tmp_path / "talk.ogg"
    long_speech_opus(str(path), 90)
    result = get_engine().transcribe(str(path), TranscribeOptions())
    assert len(server.seen) == 10  # parts average 90% of OPENAI_CHUNK_SECONDS
    assert server.max_in_flight == 3
    assert result.timings["parts"] == 10
