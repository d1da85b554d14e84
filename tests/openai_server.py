"""A stand-in for OpenAI's audio API on 127.0.0.1, for tests and the benchmark.

It checks what the real one checks (key, size, extension, model, response format),
decodes what it receives with PyAV, and answers with one segment per stretch of
sound it heard, saying where in the upload it heard it, so that merged results
can be checked against the audio. It can be told to fail, throttle, stall or
answer nonsense, per request or per uploaded file name, and to serve one request at
a time, as a self-hosted Whisper on a CPU does: such a server keeps working on a
request whose client has given up, so `most_copies` counts copies of one file it held
at once, abandoned ones included.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import numpy as np

LIMIT_BYTES = 26_214_400
EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize")
PATHS = ("/v1/audio/transcriptions", "/v1/audio/translations")


@dataclass
class Seen:
    filename: str
    fields: dict[str, list[str]]
    path: str
    size: int
    duration: float | None = None
    status: int = 200
    started: float = 0.0
    # When the work began: later than `started` where the request waited its turn.
    worked: float = 0.0
    finished: float = 0.0


@dataclass
class Behaviour:
    key: str = "sk-test-key"
    # Seconds of work per second of audio received: a server slower with longer audio.
    seconds_per_audio_second: float = 0.0
    delay: float = 0.0
    # One request at a time; the others wait in line, as on a server with one model on a CPU.
    serial: bool = False
    # Extra seconds of work for the next requests per file-name fragment: {"part-2": [5.0]}.
    stall: dict[str, list[float]] = field(default_factory=dict)
    # Answers queued per file-name fragment: e.g. {"part-3": [500, 500]} fails the first two
    # requests for part 3; "always" fails every one. "*" matches every file.
    fail: dict[str, list[int] | str] = field(default_factory=dict)
    fail_status: int = 500
    retry_after: str | None = None
    malformed: int = 0
    # Formats/parameters this server refuses with a 400, as smaller servers do.
    refuse_formats: tuple[str, ...] = ()
    refuse_params: tuple[str, ...] = ()
    # Echo the key in a 401, as some servers do, to prove the client hides it.
    echo_key: bool = False


class FakeOpenAI:
    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or Behaviour()
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.copies: dict[str, int] = {}
        self.most_copies = 0
        self._lock = threading.Lock()
        self._line = _Line()
        self._decoded: dict[bytes, tuple[float, list[tuple[float, float]]]] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def ok(self) -> list[Seen]:
        return [s for s in self.seen if s.status == 200]

    def _stall(self, filename: str) -> float:
        with self._lock:
            for fragment, plan in self.behaviour.stall.items():
                if (fragment == "*" or fragment in filename) and plan:
                    return plan.pop(0)
        return 0.0

    def _heard(self, audio: bytes) -> tuple[float, list[tuple[float, float]]]:
        """What `_listen` makes of this upload, decoded once: this server shares its client's
        two cores, where a real one decodes on its own machine (the time it takes stays
        proportional to the audio either way)."""
        key = hashlib.sha256(audio).digest()
        if key not in self._decoded:
            self._decoded[key] = _listen(audio)
        return self._decoded[key]

    def _hold(self, filename: str, delta: int) -> None:
        with self._lock:
            self.copies[filename] = self.copies.get(filename, 0) + delta
            self.most_copies = max(self.most_copies, self.copies[filename])

    def _next_failure(self, filename: str) -> int | None:
        with self._lock:
            for fragment, plan in self.behaviour.fail.items():
                if fragment != "*" and fragment not in filename:
                    continue
                if plan == "always":
                    return self.behaviour.fail_status
                if plan:
                    return plan.pop(0)
            if self.behaviour.malformed:
                self.behaviour.malformed -= 1
                return -1
        return None

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._transcription()
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, status: int, body: bytes | str, ctype="application/json", headers=None) -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting; the work was done all the same

            def _error(self, seen: Seen | None, status: int, message: str, param=None, headers=None) -> None:
                if seen:
                    seen.status = status
                    seen.finished = time.monotonic()
                error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
                self._answer(status, json.dumps({"error": error}), headers=headers)

            def _transcription(self) -> None:
                b = server.behaviour
                started = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.rstrip("/") not in PATHS:
                    return self._error(None, 404, f"Unknown path {self.path}")
                if self.headers.get("Authorization") != f"Bearer {b.key}":
                    sent = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                    shown = sent if b.echo_key else sent[:3] + "***"
                    return self._error(None, 401, f"Incorrect API key provided: {shown}.")
                fields, filename, audio = _multipart(self.headers.get("Content-Type", ""), body)
                seen = Seen(filename, fields, self.path.rstrip("/"), len(audio), started=started)
                server.seen.append(seen)
                server._hold(filename, 1)
                try:
                    if not b.serial:
                        return self._work(seen, fields, filename, audio)
                    with server._line:
                        return self._work(seen, fields, filename, audio)
                finally:
                    server._hold(filename, -1)

            def _work(self, seen: Seen, fields: dict, filename: str, audio: bytes) -> None:
                b = server.behaviour
                seen.worked = time.monotonic()
                if len(audio) > LIMIT_BYTES:
                    return self._error(seen, 413, f"Maximum content size limit ({LIMIT_BYTES}) exceeded.")
                ext = filename.rpartition(".")[2].lower()
                if ext not in EXTENSIONS:
                    return self._error(
                        seen, 400, f"Invalid file format. Supported formats: {list(EXTENSIONS)}"
                    )
                model = (fields.get("model") or [""])[0]
                if model not in MODELS:
                    return self._error(seen, 400, f"The model `{model}` does not exist.", "model")
                fmt = (fields.get("response_format") or ["json"])[0]
                translate = seen.path.endswith("/translations")
                if translate and model != "whisper-1":
                    return self._error(seen, 400, f"Translations are not available for `{model}`.", "model")
                if (
                    fmt in b.refuse_formats
                    or (fmt == "verbose_json" and model != "whisper-1")
                    or ((fmt == "diarized_json") != (model == "gpt-4o-transcribe-diarize"))
                ):
                    return self._error(
                        seen, 400, f"response_format '{fmt}' is not supported.", "response_format"
                    )
                if model == "gpt-4o-transcribe-diarize" and "prompt" in fields:
                    return self._error(seen, 400, "Prompt is not supported for diarization.", "prompt")
                for param in b.refuse_params:
                    if any(k.startswith(param) for k in fields):
                        return self._error(seen, 400, f"Unrecognized request argument: {param}", param)
                failure = server._next_failure(filename)
                if failure == -1:
                    seen.finished = time.monotonic()
                    return self._answer(200, '{"text": "half an answ')
                if failure:
                    headers = {"Retry-After": b.retry_after} if b.retry_after and failure == 429 else None
                    return self._error(seen, failure, f"Simulated {failure} for {filename}.", headers=headers)
                try:
                    duration, spans = server._heard(audio)
                except Exception:
                    return self._error(seen, 400, "Audio file might be corrupted or unsupported.", "file")
                seen.duration = duration
                if (
                    model == "gpt-4o-transcribe-diarize"
                    and duration > 30
                    and "chunking_strategy" not in fields
                ):
                    return self._error(
                        seen,
                        400,
                        "chunking_strategy is required for audio longer than 30 seconds.",
                        "chunking_strategy",
                    )
                # Time proportional to the audio, decoding included: a real server decodes on its
                # own machine, not on the 2 cores this one shares with its client.
                work = b.delay + b.seconds_per_audio_second * duration + server._stall(filename)
                time.sleep(max(work - (time.monotonic() - seen.worked), 0))
                seen.finished = time.monotonic()
                words = "word" in fields.get("timestamp_granularities[]", [])
                voices = None
                if fields.get("known_speaker_names[]"):
                    voices = _voices(fields, audio, spans)
                    if isinstance(voices, str):
                        return self._error(seen, 400, voices, "known_speaker_references")
                self._answer(*_render(fmt, duration, spans, filename, words, translate, voices))

        return Handler


class _Line:
    """Requests served one at a time in the order they came, as a server's queue does."""

    def __init__(self):
        self._cond = threading.Condition()
        self._taken = self._served = 0

    def __enter__(self) -> None:
        with self._cond:
            mine = self._taken
            self._taken += 1
            self._cond.wait_for(lambda: self._served == mine)

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._served += 1
            self._cond.notify_all()


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], str, bytes]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, list[str]] = {}
    filename, audio = "", b""
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            filename, audio = part.get_filename(), payload
        else:
            fields.setdefault(name, []).append(payload.decode())
    return fields, filename, audio


def _listen(audio: bytes) -> tuple[float, list[tuple[float, float]]]:
    """Decode the upload; its true duration and the stretches of sound in it."""
    hop_s = 0.05
    levels: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    samples = rate = 0

    def flush(final: bool) -> None:
        nonlocal pending
        data = np.concatenate(pending) if pending else np.zeros(0, np.float32)
        hop = int(rate * hop_s)
        n = len(data) // hop if hop else 0
        block = data[: n * hop].reshape(n, hop) if n else np.zeros((0, 1), np.float32)
        levels.append(np.sqrt((block * block).mean(1)) if n else np.zeros(0, np.float32))
        pending = [] if final else [data[n * hop :]]

    with av.open(io.BytesIO(audio)) as container:
        for frame in container.decode(audio=0):
            rate = frame.sample_rate
            arr = frame.to_ndarray()
            if np.issubdtype(arr.dtype, np.integer):
                arr = arr.astype(np.float32) / 32768.0
            if frame.format.is_planar:
                arr = arr.mean(axis=0)
            else:
                arr = arr.reshape(-1, len(frame.layout.channels)).mean(1)
            samples += len(arr)
            pending.append(arr)
            if len(pending) >= 500:
                flush(False)
    flush(True)
    duration = samples / rate if rate else 0.0
    loud = np.concatenate(levels) > 0.01
    spans: list[tuple[float, float]] = []
    for i in np.flatnonzero(loud):
        t = float(i * hop_s)
        if spans and t - spans[-1][1] < 0.6:  # a gap between words, not a pause
            spans[-1] = (spans[-1][0], t + hop_s)
        else:
            spans.append((t, t + hop_s))
    return duration, spans


def _samples(audio: bytes) -> np.ndarray:
    """Mono 16 kHz floats of an upload."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
    out = []
    with av.open(io.BytesIO(audio)) as container:
        for frame in container.decode(audio=0):
            frame.pts = None
            out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _pitch(samples: np.ndarray) -> float:
    """Median fundamental frequency by autocorrelation: the fake's whole idea of a voice
    (the tests' two espeak-ng speakers sit near 90 Hz and 250 Hz)."""
    frame, found = 640, []
    for i in range(0, len(samples) - frame, frame):
        w = samples[i : i + frame]
        if np.sqrt(np.mean(w * w)) < 0.02:
            continue
        ac = np.correlate(w, w, "full")[frame - 1 :]
        k = 40 + int(np.argmax(ac[40:228]))  # 70–400 Hz
        if ac[k] > 0.3 * ac[0]:
            found.append(16000 / k)
    return float(np.median(found)) if found else 0.0


def _voices(fields: dict, audio: bytes, spans) -> list[str] | str:
    """Known speakers as the API takes them: each span is labelled with the known name whose
    reference clip has its pitch (within 20 %), else A, B, ... by pitch, in order heard.
    A string is the API's refusal."""
    names, refs = fields.get("known_speaker_names[]", []), fields.get("known_speaker_references[]", [])
    if len(names) != len(refs) or len(names) > 4:
        return "known_speaker_names and known_speaker_references must match, at most 4."
    known: list[tuple[str, float]] = []
    for name, ref in zip(names, refs, strict=True):
        head, _, data = ref.partition(",")
        if not head.startswith("data:audio/") or not head.endswith(";base64"):
            return "known_speaker_references must be data URLs of audio."
        clip = _samples(base64.b64decode(data))
        if not 2.0 <= len(clip) / 16000 <= 10.0:
            return "Each known speaker reference must be between 2 and 10 seconds."
        known.append((name, _pitch(clip)))
    samples = _samples(audio)
    unknown: list[tuple[str, float]] = []
    labels = []
    for start, end in spans:
        f0 = _pitch(samples[int(start * 16000) : int(end * 16000)])
        match = [n for n, p in known + unknown if p and abs(f0 - p) <= 0.2 * p]
        if not match:
            unknown.append(("ABCDEFGH"[len(unknown) % 8], f0))
            match = [unknown[-1][0]]
        labels.append(match[0])
    return labels


def _render(
    fmt: str,
    duration: float,
    spans,
    filename: str,
    words: bool,
    translate: bool = False,
    voices: list[str] | None = None,
) -> tuple[int, str, str]:
    segments = []
    said = "translated sound" if translate else "sound"
    for i, (start, end) in enumerate(spans):
        text = f"{said} {i + 1} at {start:.2f} of {duration:.2f} in {filename}"
        seg = {"id": i, "start": round(start, 2), "end": round(end, 2), "text": " " + text}
        segments.append(seg)
    text = " ".join(s["text"].strip() for s in segments)
    if fmt == "text":
        return 200, text, "text/plain"
    if fmt == "json":
        return 200, json.dumps({"text": text}), "application/json"
    if fmt == "diarized_json":
        # Two people taking turns, labelled as the API labels unknown speakers; with known
        # speakers, labelled by voice.
        turns = [
            {
                **s,
                "id": f"seg_{i}",
                "speaker": voices[i] if voices else "AB"[i % 2],
                "type": "transcript.text.segment",
            }
            for i, s in enumerate(segments)
        ]
        doc = {"task": "transcribe", "duration": round(duration, 3), "text": text, "segments": turns}
        return 200, json.dumps(doc), "application/json"
    task = "translate" if translate else "transcribe"
    doc = {"task": task, "language": "english", "duration": round(duration, 3), "text": text}
    doc["segments"] = segments
    if words:
        doc["words"] = []
        for s in segments:
            parts = s["text"].split()
            step = (s["end"] - s["start"]) / len(parts)
            for k, w in enumerate(parts):
                a = s["start"] + k * step
                doc["words"].append({"word": w, "start": round(a, 3), "end": round(a + step, 3)})
    return 200, json.dumps(doc), "application/json"


# Audio for the tests: espeak-ng speech and digital silence, made cheaply.

SENTENCE = "The quick brown fox jumps over the lazy dog."


@dataclass
class Layout:
    """A file of `count` units, each `period` seconds: speech over [speech_start, speech_end), then silence."""

    period: float
    speech_start: float
    speech_end: float
    count: int

    @property
    def duration(self) -> float:
        return self.period * self.count

    def in_silence(self, t: float, margin: float = 0.1) -> bool:
        x = t % self.period
        return x >= self.speech_end + margin or x <= self.speech_start - margin


def _speech_pcm(text: str = SENTENCE) -> np.ndarray:
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(["espeak-ng", "-s", "170", "-w", wav.name, text], check=True)
        with av.open(wav.name) as inp:
            rs = av.AudioResampler(format="s16", layout="mono", rate=16000)
            pcm = np.concatenate(
                [r.to_ndarray().reshape(-1) for f in inp.decode(audio=0) for r in rs.resample(f)]
            )
    loud = np.flatnonzero(np.abs(pcm) > 300)
    return pcm[loud[0] : loud[-1] + 1]


def long_speech_opus(path: str, seconds: float, gap: float = 2.0) -> Layout:
    """Mono Opus in Ogg of about `seconds`: one unit (lead-in, speech, gap) encoded once,
    then its packets repeated, so even three hours take seconds to make."""
    speech = _speech_pcm()
    lead = 0.24
    unit = np.concatenate(
        [np.zeros(int(lead * 16000), np.int16), speech, np.zeros(int(gap * 16000), np.int16)]
    )
    frame = 960  # 60 ms at 16 kHz: Opus packets then hold exactly one frame each
    unit = np.concatenate([unit, np.zeros(-len(unit) % frame, np.int16)])
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as out:
        st = out.add_stream("libopus", rate=16000, options={"frame_duration": "60", "application": "voip"})
        st.layout, st.bit_rate = "mono", 24000
        # Two copies, keep the second's packets: the encoder has warmed up by then.
        both = np.concatenate([unit, unit])
        for i in range(0, len(both), frame):
            f = av.AudioFrame.from_ndarray(both[i : i + frame].reshape(1, -1), format="s16", layout="mono")
            f.sample_rate, f.pts = 16000, i
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    per_unit = len(unit) // frame
    buf.seek(0)
    with av.open(buf) as src:
        stream = src.streams.audio[0]
        packets = [bytes(p) for p in src.demux(stream) if p.size]
        unit_packets = packets[per_unit : 2 * per_unit]
        count = max(int(seconds // (len(unit) / 16000)), 1)
        with av.open(path, "w", format="ogg") as out:
            dst = out.add_stream_from_template(stream)
            pts = 0
            for _ in range(count):
                for data in unit_packets:
                    p = av.Packet(data)
                    p.stream, p.pts, p.dts, p.time_base, p.duration = dst, pts, pts, stream.time_base, 2880
                    out.mux(p)
                    pts += 2880
    return Layout(len(unit) / 16000, lead, lead + len(speech) / 16000, count)


def speech_wav(path: str, repeats: int, gap: float = 1.5) -> Layout:
    """A short WAV of the sentence said `repeats` times, `gap` seconds of silence after each."""
    speech = _speech_pcm()
    lead = 0.3
    unit = np.concatenate(
        [np.zeros(int(lead * 16000), np.int16), speech, np.zeros(int(gap * 16000), np.int16)]
    )
    with av.open(path, "w", format="wav") as out:
        st = out.add_stream("pcm_s16le", rate=16000)
        st.layout = "mono"
        data = np.tile(unit, repeats)
        for i in range(0, len(data), 16000):
            f = av.AudioFrame.from_ndarray(data[i : i + 16000].reshape(1, -1), format="s16", layout="mono")
            f.sample_rate = 16000
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return Layout(len(unit) / 16000, lead, lead + len(speech) / 16000, repeats)


def main() -> None:
    """Serve on its own (`python -m tests.openai_server`): the benchmark runs it in another
    process, so its decoding does not share the client's interpreter lock, as a real server would not."""
    import argparse
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--key", default="sk-test-key")
    parser.add_argument("--seconds-per-audio-second", type=float, default=0.0)
    parser.add_argument("--serial", action="store_true", help="serve one request at a time")
    args = parser.parse_args()
    behaviour = Behaviour(
        key=args.key, seconds_per_audio_second=args.seconds_per_audio_second, serial=args.serial
    )
    with FakeOpenAI(behaviour) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin
        print(json.dumps({"answered": len(server.ok()), "received": len(server.seen)}), flush=True)


if __name__ == "__main__":
    main()
