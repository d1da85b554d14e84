"""A second client nobody here wrote: wyoming-openai, Home Assistant's Wyoming-protocol
proxy for OpenAI-compatible speech-to-text. It runs as a user runs it, a process pointed
at the live server (--stt-openai-url), and the test speaks to it over the Wyoming
protocol as Home Assistant would (tests/wyoming_client.py, with the `wyoming` library).

Chosen over Open WebUI (over a hundred pinned dependencies: torch-class ML stacks,
chromadb, cloud SDKs) and LiteLLM (heavy, and it fetches a model price list at start):
wyoming-openai needs a dozen small packages and nothing from the network. It needs
Python 3.12 and pins openai 3.22.1, hence its own venv (.venv-wyoming, built by `make test`)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from transcripts.api.models import ApiKey
from transcripts.models import COMPLETED, Transcript

from .conftest import client_tool

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = Path(__file__).parent / "wyoming_client.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def wyoming(live_server, alice, tmp_path):
    """wyoming-openai on 127.0.0.1, its STT pointed at this product with one of alice's keys;
    its URI once it listens."""
    python = client_tool(".venv-wyoming", "python")  # it has no console script: `python -m`
    uri = f"tcp://127.0.0.1:{_free_port()}"
    log = (tmp_path / "wyoming.log").open("w")
    command = [
        str(python),
        "-m",
        "wyoming_openai",
        "--uri",
        uri,
        "--stt-openai-url",
        f"{live_server.url}/v1",
        "--stt-openai-key",
        ApiKey.issue(alice, "home assistant")[1],
        "--stt-models",
        "whisper-1",
        "--languages",
        "en",
    ]
    proxy = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        port = int(uri.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proxy.poll() is None, (tmp_path / "wyoming.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "wyoming.log").read_text()
                time.sleep(0.1)
        yield uri
    finally:
        proxy.terminate()
        proxy.wait(10)
        log.close()


def test_home_assistants_wyoming_proxy_gets_a_transcript_from_this_server(wyoming, alice, tmp_path):
    wav = tmp_path / "command.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), "Turn on the kitchen lights."], check=True)
    python = client_tool(".venv-wyoming", "python")
    done = subprocess.run(
        [str(python), str(CLIENT), wyoming, str(wav)], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    info, transcript = (json.loads(line) for line in done.stdout.splitlines())
    models = [m["name"] for program in info["info"]["asr"] for m in program["models"]]
    assert "whisper-1" in models
    text = transcript["transcript"].lower()
    assert "kitchen" in text and "lights" in text
    t = Transcript.objects.get()  # kept in the account, like any API transcript
    assert (t.owner, t.status, t.source) == (alice, COMPLETED, "api")
