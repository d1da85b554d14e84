"""The OpenAI-compatible endpoint, driven by the official `openai` SDK over real HTTP
against the live server on 127.0.0.1, with the real local engine."""

from __future__ import annotations

import subprocess

import openai
import pytest

from transcripts.api.models import ApiKey
from transcripts.models import COMPLETED, Transcript

from .conftest import fixture_path

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(alice) -> str:
    return ApiKey.issue(alice, "sdk")[1]


@pytest.fixture
def sdk(live_server, key) -> openai.OpenAI:
    # No retries: a test must see each answer as the server gave it.
    return openai.OpenAI(api_key=key, base_url=f"{live_server.url}/v1", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def fox(tmp_path_factory):
    """Two seconds of speech, made here: each format is one more real transcription."""
    path = tmp_path_factory.mktemp("audio") / "fox.wav"
    subprocess.run(["espeak-ng", "-s", "160", "-w", str(path), "The quick brown fox."], check=True)
    return path


def speech(name: str = "speech.mp3"):
    return fixture_path(name).open("rb")


def test_json_is_the_default_and_the_transcript_is_kept_in_the_account(sdk, alice, alice_client):
    with speech() as f:
        result = sdk.audio.transcriptions.create(model="whisper-1", file=f)
    assert "fox" in result.text.lower() and "monday" in result.text.lower()
    t = Transcript.objects.get()
    assert (t.owner, t.status, t.source, t.text) == (alice, COMPLETED, "api", result.text)
    assert "speech" in alice_client.get("/").content.decode()  # visible in the UI's list


def test_text_srt_and_vtt(sdk, fox):
    with fox.open("rb") as f:
        text = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="text")
    assert isinstance(text, str) and "fox" in text.lower()
    with fox.open("rb") as f:
        srt = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="srt")
    assert srt.startswith("1\n00:00:0") and " --> " in srt and "fox" in srt.lower()
    with fox.open("rb") as f:
        vtt = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="vtt")
    assert vtt.startswith("WEBVTT") and " --> " in vtt and "fox" in vtt.lower()


def test_verbose_json_with_word_and_segment_timestamps(sdk):
    with speech() as f:
        result = sdk.audio.transcriptions.create(
            model="whisper-1",
            file=f,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
            language="en",
            temperature=0.2,
            prompt="A meeting.",
        )
    assert result.task == "transcribe" and result.language == "english" and 6 < result.duration < 7
    assert result.segments and result.segments[0].start >= 0 and result.segments[-1].end <= 7.5
    assert "fox" in " ".join(w.word.lower() for w in result.words)
    assert all(w.start <= w.end for w in result.words)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)


def test_verbose_json_gives_segments_only_unless_words_are_asked_for(sdk, fox):
    with fox.open("rb") as f:
        result = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json")
    assert result.segments and result.words is None
    with fox.open("rb") as f:
        words_only = sdk.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["word"]
        )
    assert words_only.words and words_only.segments is None


def test_diarized_json_labels_every_segment(sdk, fox):
    with fox.open("rb") as f:
        result = sdk.audio.transcriptions.create(model="whisper-1", file=f, response_format="diarized_json")
    assert result.task == "transcribe" and result.segments
    assert all(s.speaker and s.type == "transcript.text.segment" for s in result.segments)
    assert "fox" in result.text.lower()


def test_a_translation_needs_a_model_that_translates(sdk, fox):
    with fox.open("rb") as f, pytest.raises(openai.BadRequestError) as caught:
        sdk.audio.translations.create(model="whisper-1", file=f)  # tiny.en: English only
    assert "cannot translate" in caught.value.body["message"]
    assert not Transcript.objects.exists()


def test_a_translation(base_model, sdk, fox):
    with fox.open("rb") as f:
        result = sdk.audio.translations.create(model="whisper-1", file=f)
    assert "fox" in result.text.lower()
    with fox.open("rb") as f:
        verbose = sdk.audio.translations.create(model="whisper-1", file=f, response_format="verbose_json")
    assert verbose.task == "translate"


def test_a_file_that_is_not_audio_is_a_bad_request(sdk):
    with speech("not_audio.mp3") as f, pytest.raises(openai.BadRequestError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=f)
    error = caught.value.body
    assert error["param"] == "file" and error["type"] == "invalid_request_error" and error["message"]
    assert not Transcript.objects.exists()


def test_a_bad_key_is_an_authentication_error(live_server, sdk):
    bad = openai.OpenAI(api_key="mn_wrong_key", base_url=f"{live_server.url}/v1", max_retries=0)
    with speech() as f, pytest.raises(openai.AuthenticationError) as caught:
        bad.audio.transcriptions.create(model="whisper-1", file=f)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert "mn_wrong_ke" in caught.value.message and not Transcript.objects.exists()


def test_a_file_over_the_limit_is_413_and_points_to_the_rest_api(sdk, settings):
    settings.OPENAI_COMPAT_MAX_MB = 0.01
    with speech() as f, pytest.raises(openai.APIStatusError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=f)
    error = caught.value
    assert error.status_code == 413 and error.code == "file_too_large" and error.param == "file"
    assert "/api/v1/transcripts" in error.message
    assert error.response.headers["x-should-retry"] == "false"
    assert not Transcript.objects.exists()


def test_a_result_not_ready_in_time_is_504_and_the_transcript_goes_on(sdk, settings, monkeypatch):
    # A worker that has not finished yet: nothing runs the queued row.
    monkeypatch.setattr("transcripts.signals.dispatch", lambda transcript_id: None)
    settings.OPENAI_COMPAT_WAIT_SECONDS = 0.5
    with speech() as f, pytest.raises(openai.InternalServerError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=f)
    error = caught.value
    t = Transcript.objects.get()
    assert error.status_code == 504 and error.code == "timeout"
    assert str(t.id) in error.message and "/api/v1/transcripts" in error.message
    assert error.response.headers["x-should-retry"] == "false"  # the SDK does not upload it again


def test_models_lists_whisper_1_and_the_configured_default(sdk, fox, settings):
    ids = [m.id for m in sdk.models.list()]
    assert ids == ["whisper-1", settings.WHISPER_MODEL]
    assert sdk.models.retrieve("whisper-1").id == "whisper-1"
    with fox.open("rb") as f:
        result = sdk.audio.transcriptions.create(model=settings.WHISPER_MODEL, file=f)
    assert "fox" in result.text.lower()


def test_unknown_model_format_and_granularity_are_bad_requests(sdk):
    for kwargs, param in (
        ({"model": "gpt-9"}, "model"),
        ({"model": "whisper-1", "response_format": "xml"}, "response_format"),
        ({"model": "whisper-1", "timestamp_granularities": ["word"]}, "timestamp_granularities"),
        ({"model": "whisper-1", "temperature": 3}, "temperature"),
        ({"model": "whisper-1", "language": "klingon"}, "language"),
    ):
        with speech() as f, pytest.raises(openai.BadRequestError) as caught:
            sdk.audio.transcriptions.create(file=f, **kwargs)
        assert caught.value.param == param, (kwargs, caught.value.body)
    assert not Transcript.objects.exists()


def test_the_rate_limit_is_the_sdks_rate_limit_error(sdk, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    sdk.models.list()
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.models.list()
    assert int(caught.value.response.headers["Retry-After"]) >= 1
