"""Whisper through OpenAI's audio API, or any server that speaks it (`OPENAI_BASE_URL`).

One request takes at most 25 MB, so audio past OPENAI_CHUNK_SECONDS, or too big
to send as it is, is made compact and cut at pauses (workers/chunking.py); the
parts go out concurrently, at most OPENAI_MAX_CONCURRENCY at once, and their
results are merged onto the original timeline.

Retries are ours, not the SDK's (`max_retries=0`): one loop that honours
`Retry-After`, retries malformed answers too, and knows which part it is on.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from workers.speech import chunking
from workers.speech.audio import probe
from workers.speech.parts import merge

from . import (
    EngineError,
    PartCache,
    Progress,
    Segment,
    TranscribeOptions,
    TranscriptionResult,
    Word,
    join_text,
)

log = logging.getLogger(__name__)

TEXT_ONLY_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")
# Waits between attempts: exponential from BACKOFF_SECONDS, at most MAX_BACKOFF_SECONDS,
# unless the server's Retry-After asks for longer (honoured up to MAX_RETRY_AFTER_SECONDS).
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
MAX_RETRY_AFTER_SECONDS = 60.0


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Rejected(Exception):
    """A 400-class answer: retrying the same request cannot help."""

    def __init__(self, message: str, about_format: bool):
        super().__init__(message)
        # The server refused what we asked for (a format, a parameter), not the audio.
        self.about_format = about_format


_FORMAT_WORDS = ("response_format", "timestamp_granularities", "granularit", "verbose_json")


def _profiles(model: str, words: bool) -> list[dict]:
    """What to ask for, best first: a server that refuses a format or a parameter gets the next one."""
    if model.startswith(TEXT_ONLY_MODELS):
        return [{"response_format": "json"}, {"response_format": "text"}]
    granularities = ["segment", "word"] if words else ["segment"]
    return [
        {"response_format": "verbose_json", "timestamp_granularities": granularities},
        {"response_format": "verbose_json"},
        {"response_format": "json"},
        {"response_format": "text"},
    ]


class OpenAIEngine:
    name = "openai"

    def __init__(
        self,
        api_key: str,
        base_url: str | None,
        model: str,
        timeout: float,
        max_retries: int,
        concurrency: int,
        chunk_seconds: float,
    ):
        if not api_key:
            raise EngineError("OPENAI_API_KEY is not set: the openai engine cannot run without it.")
        import openai

        self._secret = api_key
        self.model_name = model
        self.max_retries = max_retries
        self.concurrency = max(concurrency, 1)
        self.chunk_seconds = chunk_seconds
        self._profile_start: dict[bool, int] = {}
        self._lock = threading.Lock()
        # The SDK's default is 600 s and 2 retries; a whole job has to fit in a Lambda's 15 minutes.
        self.client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=openai.Timeout(timeout, connect=min(timeout, 10.0)),
            max_retries=0,
        )

    def redact(self, text: str) -> str:
        """Messages may quote what was sent; the key must never reach a log or a person."""
        text = text.replace(self._secret, "[redacted]")
        return re.sub(r"\bsk-[A-Za-z0-9_\-*]{6,}", "[redacted]", text)

    def transcribe(
        self,
        path: str,
        options: TranscribeOptions,
        progress: Progress | None = None,
        parts: PartCache | None = None,
    ) -> TranscriptionResult:
        started = time.monotonic()
        info = probe(path)
        ext = chunking.extension_for(path)
        small = os.path.getsize(path) <= chunking.REQUEST_LIMIT_BYTES * 0.9
        if ext and small and info.duration <= self.chunk_seconds:
            result = self.transcribe_file(path, ext, options, label="the audio")
            result.duration = round(info.duration, 3)
            if not result.timestamps and result.segments:
                result.segments[0].end = result.duration
            result.timings = {"transcribe": round(time.monotonic() - started, 3)}
            return result
        with tempfile.TemporaryDirectory(prefix="openai-", dir=os.getenv("WORK_DIR") or None) as work:
            pieces = chunking.split(path, info.duration, self.chunk_seconds, work)
            results = self.transcribe_pieces(pieces, options, progress, parts)
        merged = merge(results, pieces, info.duration)
        merged.timings = {"transcribe": round(time.monotonic() - started, 3), "parts": len(pieces)}
        return merged

    def transcribe_pieces(
        self,
        pieces: list[chunking.Piece],
        options: TranscribeOptions,
        progress: Progress | None = None,
        parts: PartCache | None = None,
    ) -> list[TranscriptionResult]:
        """Every piece, at most `concurrency` at a time; each finished one is kept in `parts`
        at once, so a failure elsewhere loses nothing. Raises the first failure, after all ran."""
        total = sum(p.span.duration for p in pieces) or 1.0
        done = [0.0]
        results: dict[int, TranscriptionResult] = {}
        errors: list[tuple[chunking.Piece, EngineError]] = []

        def one(piece: chunking.Piece) -> None:
            cached = parts.get(piece.span) if parts else None
            if cached is None:
                label = piece.span.label(len(pieces))
                try:
                    cached = self.transcribe_file(piece.path, "ogg", options, label=label)
                except EngineError as exc:
                    errors.append((piece, exc))
                    return
                if parts:
                    parts.put(piece.span, cached)
            results[piece.span.index] = cached
            with self._lock:
                done[0] += piece.span.duration
                if progress:
                    progress(min(done[0] / total, 1.0))

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai-part") as pool:
            list(pool.map(one, pieces))
        if errors:
            piece, exc = min(errors, key=lambda e: e[0].span.index)
            raise EngineError(
                f"{piece.span.label(len(pieces)).capitalize()} failed: {exc}", transient=exc.transient
            )
        return [results[p.span.index] for p in pieces]

    def transcribe_file(
        self, path: str, ext: str, options: TranscribeOptions, label: str
    ) -> TranscriptionResult:
        """One request (with its retries) for a file that fits in one."""
        words = options.word_timestamps
        profiles = _profiles(self.model_name, words)
        first_rejection: _Rejected | None = None
        for i in range(self._profile_start.get(words, 0), len(profiles)):
            try:
                result = self._with_retries(path, ext, options, profiles[i], label)
            except _Rejected as exc:
                if not exc.about_format:
                    raise EngineError(str(exc), transient=False) from None
                first_rejection = first_rejection or exc
                continue
            if i and first_rejection:
                log.info("server refused %s; using %s from now on", profiles[0], profiles[i])
                self._profile_start[words] = i
            return result
        raise EngineError(str(first_rejection), transient=False)

    def _with_retries(
        self, path: str, ext: str, options: TranscribeOptions, profile: dict, label: str
    ) -> TranscriptionResult:
        attempt = 0
        while True:
            try:
                return self._request(path, ext, options, profile)
            except _Transient as exc:
                if attempt >= self.max_retries:
                    raise EngineError(
                        f"the transcription service kept failing ({exc}); tried {attempt + 1} times.",
                        transient=True,
                    ) from None
                wait = min(BACKOFF_SECONDS * 2**attempt, MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.0)
                if exc.retry_after is not None:
                    wait = max(wait, min(exc.retry_after, MAX_RETRY_AFTER_SECONDS))
                log.warning("%s: %s; retrying in %.1fs", label, exc, wait)
                time.sleep(wait)
                attempt += 1

    def _request(self, path: str, ext: str, options: TranscribeOptions, profile: dict) -> TranscriptionResult:
        import openai

        kwargs = {"model": self.model_name, **profile}
        if options.language:
            kwargs["language"] = options.language
        if options.prompt:
            kwargs["prompt"] = options.prompt
        stem = os.path.splitext(os.path.basename(path))[0] or "audio"
        try:
            with open(path, "rb") as f:
                raw = self.client.audio.transcriptions.with_raw_response.create(
                    file=(f"{stem}.{ext}", f, f"audio/{ext}"), **kwargs
                )
            body = raw.http_response.text
        except openai.APIStatusError as exc:
            message = self.redact(_api_message(exc))
            if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
                raise _Transient(f"HTTP {exc.status_code}: {message}", _retry_after(exc)) from None
            about_format = str(getattr(exc, "param", "") or "") in _FORMAT_WORDS or any(
                w in message for w in _FORMAT_WORDS
            )
            raise _Rejected(
                f"The transcription service refused the request (HTTP {exc.status_code}): {message}",
                about_format,
            ) from None
        except openai.APITimeoutError:
            raise _Transient("no answer within OPENAI_TIMEOUT_SECONDS") from None
        except openai.APIConnectionError as exc:
            raise _Transient(self.redact(f"could not connect: {exc.__cause__ or exc}")) from None
        result = self._parse(body, profile["response_format"])
        result.language = result.language or options.language or ""
        return result

    def _parse(self, body: str, response_format: str) -> TranscriptionResult:
        if response_format == "text":
            data: dict = {"text": body}
        else:
            try:
                data = json.loads(body)
            except ValueError:
                raise _Transient("the answer was not valid JSON") from None
            if not isinstance(data, dict) or not isinstance(data.get("text"), str):
                raise _Transient("the answer had no text")
        segments = [_segment(s) for s in data.get("segments") or []]
        duration = float(data.get("duration") or 0.0)
        timestamps = bool(segments)
        if not segments and data["text"].strip():
            # Text-only answers (gpt-4o-transcribe, or a server without verbose_json):
            # one segment over the whole audio, flagged so the UI shows no times.
            segments = [Segment(0.0, duration, data["text"].strip())]
        words = [_word(w) for w in data.get("words") or []]
        if words and segments and all(s.words is None for s in segments):
            _attach_words(segments, words)
        return TranscriptionResult(
            text=join_text(segments) if timestamps else data["text"].strip(),
            language=_language(data.get("language")),
            duration=duration,
            segments=segments,
            model=self.model_name,
            engine=self.name,
            timestamps=timestamps,
        )


def _api_message(exc) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return exc.message


def _retry_after(exc) -> float | None:
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return float(headers[name]) / scale
        except (KeyError, ValueError):
            continue
    return None


def _segment(s: dict) -> Segment:
    words = [_word(w) for w in s["words"]] if s.get("words") else None
    return Segment(
        float(s.get("start", 0.0)), float(s.get("end", 0.0)), str(s.get("text", "")).strip(), words
    )


def _word(w: dict) -> Word:
    return Word(
        float(w.get("start", 0.0)), float(w.get("end", 0.0)), str(w.get("word", "")), w.get("probability")
    )


def _attach_words(segments: list[Segment], words: list[Word]) -> None:
    """verbose_json puts words beside segments, not inside: give each segment the words that start in it."""
    i = 0
    for n, seg in enumerate(segments):
        last = n == len(segments) - 1
        mine = []
        while i < len(words) and (last or words[i].start < seg.end):
            mine.append(words[i])
            i += 1
        seg.words = mine


_LANGUAGES = {
    "english": "en",
    "french": "fr",
    "german": "de",
    "spanish": "es",
    "italian": "it",
    "dutch": "nl",
}


def _language(value) -> str:
    # whisper-1's verbose_json names the language ("english"); we store codes.
    value = str(value or "").strip().lower()
    return _LANGUAGES.get(value, value)
