"""The openai engine against a slow self-hosted server that serves one request at a time
and keeps working on a request whose client gave up (issue 7, item 9)."""

from __future__ import annotations

import pytest

from workers.speech import engines
from workers.speech.engines import EngineError, TranscribeOptions, get_engine

from .conftest import fixture_path
from .openai_server import Behaviour, FakeOpenAI, Seen, long_speech_opus

KEY = "sk-test-key"


@pytest.fixture
def serial_server(settings, monkeypatch):
    with FakeOpenAI(Behaviour(key=KEY, serial=True)) as srv:
        settings.OPENAI_API_KEY = KEY
        settings.OPENAI_BASE_URL = srv.base_url
        settings.OPENAI_TRANSCRIBE_MODEL = "whisper-1"
        settings.OPENAI_MAX_RETRIES = 3
        monkeypatch.setattr(engines, "_engines", {})
        yield srv


def most_at_once(requests: list[Seen]) -> int:
    """How many of these requests the server held at the same moment."""
    edges = sorted([(s.started, 1) for s in requests] + [(s.finished, -1) for s in requests])
    held = most = 0
    for _, step in edges:
        held += step
        most = max(most, held)
    return most


def test_a_40_minute_file_completes_with_one_request_per_part(serial_server, settings, tmp_path):
    # 1 s of server time per 10 minutes of audio (at least: decoding an 8-minute part takes
    # this machine 1-3 s), one request at a time. With all five parts in flight the last
    # waits for four others: far past a fixed 1 s limit, which is why the limit grows with
    # the audio the server may have to get through first.
    serial_server.behaviour.seconds_per_audio_second = 1 / 600
    serial_server.behaviour.fail = {"part-2": [503]}  # the one retry this test injects
    settings.OPENAI_TIMEOUT_SECONDS = 1
    settings.OPENAI_TIMEOUT_PER_AUDIO_SECOND = 0.1  # generous: this machine may be busy
    settings.OPENAI_MAX_CONCURRENCY = 8
    settings.OPENAI_CHUNK_SECONDS = 600
    path = tmp_path / "meeting.ogg"
    layout = long_speech_opus(str(path), 40 * 60)

    result = get_engine("openai").transcribe(str(path), TranscribeOptions())

    assert result.timings["parts"] == 5
    assert len(result.segments) == layout.count
    assert abs(result.duration - layout.duration) < 1
    names = sorted(s.filename for s in serial_server.seen)
    assert names == sorted([f"part-{i}.ogg" for i in range(1, 6)] + ["part-2.ogg"])
    assert [s.status for s in serial_server.seen if s.filename == "part-2.ogg"] == [503, 200]
    assert serial_server.most_copies == 1


def test_timeouts_slow_the_engine_down_and_no_part_is_worked_on_twice_at_once(
    serial_server, settings, tmp_path
):
    # The server needs 0.1 s per audio second; the engine allows 0.06 (plus 0.4 s) for the
    # four parts it sends at once, 3.9 s each: the third and fourth in line time out.
    serial_server.behaviour.seconds_per_audio_second = 0.1
    settings.OPENAI_TIMEOUT_SECONDS = 0.4
    settings.OPENAI_TIMEOUT_PER_AUDIO_SECOND = 0.06
    settings.OPENAI_MAX_CONCURRENCY = 4
    settings.OPENAI_CHUNK_SECONDS = 15
    path = tmp_path / "minute.ogg"
    layout = long_speech_opus(str(path), 58)

    result = get_engine("openai").transcribe(str(path), TranscribeOptions())

    assert result.timings["parts"] == 4
    assert len(result.segments) == layout.count
    seen = serial_server.seen
    copies = {name: [s for s in seen if s.filename == name] for name in {s.filename for s in seen}}
    assert len(copies) == 4 and all(len(c) <= 2 for c in copies.values())
    again = [c[1] for c in copies.values() if len(c) == 2]
    assert len(again) >= 2
    # The server kept working on each abandoned copy, and its part was sent again only after.
    assert serial_server.most_copies == 1
    # Sent again at half the rate: at most two at once, where the first round sent four.
    assert most_at_once([c[0] for c in copies.values()]) == 4
    assert most_at_once(again) <= 2


def test_a_server_that_is_down_fails_with_one_clear_line_after_the_sdks_retries(settings, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.OPENAI_API_KEY = KEY
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.OPENAI_MAX_RETRIES = 1
    monkeypatch.setattr(engines, "_engines", {})
    with pytest.raises(EngineError) as caught:
        get_engine("openai").transcribe(str(fixture_path("speech.mp3")), TranscribeOptions())
    message = str(caught.value)
    assert message.startswith("could not connect to the transcription service")
    assert message.endswith("tried 2 times.") and "\n" not in message
    assert caught.value.transient
