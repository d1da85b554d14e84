"""What a Home Assistant voice pipeline does to a Wyoming speech-to-text service: describe,
then transcribe one WAV. Run with .venv-wyoming's Python (the `wyoming` library lives
there, not in the app's venv): `python wyoming_client.py tcp://HOST:PORT FILE.wav`.
Prints the service's info event, then the transcript, one JSON document a line."""

from __future__ import annotations

import asyncio
import json
import sys
import wave

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.info import Describe, Info


async def main(uri: str, path: str) -> None:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        while not Info.is_type((event := await client.read_event()).type):
            pass
        print(json.dumps({"info": event.data}), flush=True)

    async with AsyncClient.from_uri(uri) as client:
        with wave.open(path, "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            await client.write_event(Transcribe(language="en").event())
            await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
            while frames := wav.readframes(1024):
                chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=frames)
                await client.write_event(chunk.event())
            await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None:
            if Transcript.is_type(event.type):
                print(json.dumps({"transcript": Transcript.from_event(event).text}), flush=True)
                return
        raise SystemExit("the service closed the connection without a transcript")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
