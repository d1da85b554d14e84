"""Whisper through OpenAI's audio API, or any server that speaks it (`OPENAI_BASE_URL`).

One request takes at most 25 MB, so audio past OPENAI_CHUNK_SECONDS, or too big
to send as it is, is made compact and cut at pauses (workers/speech/chunking.py); the
parts go out concurrently, at most OPENAI_MAX_CONCURRENCY at once, and their
results are merged onto the original timeline.

Retries of refusals and errors (408, 409, 429 with its Retry-After, 5xx, a lost
connection) are the SDK's own (`max_retries`). Two things it cannot do are done here:
retry an answer that is not what it should be, and pace a slow server
(workers/speech/engines/pacing.py): the SDK would re-send a request that timed out at
once, with the same limit, while the server is still working on it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx2
import openai

from workers.speech import chunking, voices
from workers.speech.audio import probe
from workers.speech.languages import NAMES
from workers.speech.parts import merge

from . import (
    EngineError,
    PartCache,
    Progress,
    Segment,
    TranscribeOptions,
    TranscriptionResult,
    Word,
    heard,
    join_text,
)
from .pacing import Pacer

log = logging.getLogger(__name__)

TEXT_ONLY_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")
# Speakers come from this model (diarized_json), whatever OPENAI_TRANSCRIBE_MODEL says;
# translation comes from /v1/audio/translations, which serves whisper-1 only.
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
TRANSLATE_MODEL = "whisper-1"
# Statuses the SDK retries (its `_should_retry`): when one still comes back, retries ran out.
RETRIED = (408, 409, 429)


class _Malformed(Exception):
    """An answer that is not what the format promises: worth asking again."""


class _Rejected(Exception):
    """A 400-class answer: retrying the same request cannot help."""

    def __init__(self, message: str, about_format: bool):
        super().__init__(message)
        # The server refused what we asked for (a format, a parameter), not the audio.
        self.about_format = about_format


class _NoResend(httpx2.HTTPTransport):
    """A request that timed out once sent reaches the SDK as an OpenAIError, which it passes
    on without re-sending: the server may still be working on it (see pacing.py). One that
    never got a connection is the SDK's to retry."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return super().handle_request(request)
        except (httpx2.ReadTimeout, httpx2.WriteTimeout) as exc:
            raise openai.APITimeoutError(request=request) from exc


_FORMAT_WORDS = ("response_format", "timestamp_granularities", "granularit", "verbose_json")


def _profiles(model: str, options: TranscribeOptions, seconds: float) -> list[dict]:
    """What to ask for, best first: a server that refuses a format or a parameter gets the next one."""
    if model == DIARIZE_MODEL:
        # The API wants a chunking strategy for audio past 30 s.
        return [
            {"response_format": "diarized_json", **({"chunking_strategy": "auto"} if seconds > 30 else {})}
        ]
    if options.task == "translate":
        return [{"response_format": f} for f in ("verbose_json", "json", "text")]
    if model.startswith(TEXT_ONLY_MODELS):
        return [{"response_format": "json"}, {"response_format": "text"}]
    granularities = ["segment", "word"] if options.word_timestamps else ["segment"]
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
        timeout_per_audio_second: float = 1.0,
    ):
        if not api_key:
            raise EngineError("OPENAI_API_KEY is not set: the openai engine cannot run without it.")
        self._secret = api_key
        self.model_name = model
        self.max_retries = max(max_retries, 0)
        self.concurrency = max(concurrency, 1)
        self.chunk_seconds = chunk_seconds
        self.timeout_per_audio_second = timeout_per_audio_second
        # One pacer per engine, so per process and server: transcripts side by side share it.
        self.pacer = Pacer(self.concurrency, timeout, timeout_per_audio_second)
        self._profile_start: dict[tuple, int] = {}
        self._lock = threading.Lock()
        self.client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=self.max_retries,
            http_client=openai.DefaultHttpxClient(transport=_NoResend()),
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
        self.model_for(options)  # refuse what cannot be done before any work
        info = probe(path)
        ext = chunking.extension_for(path)
        small = os.path.getsize(path) <= chunking.REQUEST_LIMIT_BYTES * 0.9
        if ext and small and info.duration <= self.chunk_seconds:
            result = self.transcribe_file(path, ext, info.duration, options, label="the audio")
            result.duration = round(info.duration, 3)
            if not result.timestamps and result.segments:
                result.segments[0].end = result.duration
            result.timings = {"transcribe": round(time.monotonic() - started, 3)}
            return _with_speakers(result, options)
        shared: tuple[str, ...] = ()
        with tempfile.TemporaryDirectory(prefix="openai-", dir=os.getenv("WORK_DIR") or None) as work:
            pieces = chunking.split(path, info.duration, self.chunk_seconds, work)
            if options.speakers is None or len(pieces) == 1:
                results = self.transcribe_pieces(pieces, options, progress, parts)
            else:
                # The first part alone, then the rest told who it heard (workers/speech/voices.py).
                first_share = pieces[0].span.duration / (sum(p.span.duration for p in pieces) or 1.0)
                results = self.transcribe_pieces(
                    pieces[:1], options, progress and (lambda f: progress(f * first_share)), parts
                )
                known = voices.references(pieces[0].path, results[0].segments)
                shared = tuple(v.id for v in known)
                results += self.transcribe_pieces(
                    pieces[1:],
                    replace(options, voices=known),
                    progress and (lambda f: progress(first_share + f * (1 - first_share))),
                    parts,
                )
        merged = merge(results, pieces, info.duration, shared)
        merged.timings = {"transcribe": round(time.monotonic() - started, 3), "parts": len(pieces)}
        return _with_speakers(merged, options)

    def model_for(self, options: TranscribeOptions) -> str:
        """The model that can do what `options` ask, or a clear EngineError."""
        if options.task not in ("transcribe", "translate"):
            raise EngineError(f"Unknown task {options.task!r}: use 'transcribe' or 'translate'.")
        if options.task == "translate":
            if options.speakers is not None:
                raise EngineError(
                    "The openai engine cannot label speakers in a translation; ask for one or the other."
                )
            if self.model_name != TRANSLATE_MODEL:
                raise EngineError(
                    f"Translation into English uses /v1/audio/translations, which serves {TRANSLATE_MODEL} "
                    f"only; OPENAI_TRANSCRIBE_MODEL is {self.model_name}."
                )
        return DIARIZE_MODEL if options.speakers is not None else self.model_name

    def transcribe_pieces(
        self,
        pieces: list[chunking.Piece],
        options: TranscribeOptions,
        progress: Progress | None = None,
        parts: PartCache | None = None,
    ) -> list[TranscriptionResult]:
        """Every piece, as many at a time as the pacer allows; each finished one is kept in
        `parts` at once, so a failure elsewhere loses nothing. Raises the first failure, after all ran."""
        total = sum(p.span.duration for p in pieces) or 1.0
        done = [0.0]
        results: dict[int, TranscriptionResult] = {}
        errors: list[tuple[chunking.Piece, EngineError]] = []

        def one(piece: chunking.Piece) -> None:
            cached = parts.get(piece.span) if parts else None
            if cached is None:
                label = piece.span.label(len(pieces))
                try:
                    cached = self.transcribe_file(
                        piece.path, "ogg", piece.span.duration, options, label, peers=len(pieces)
                    )
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
        self, path: str, ext: str, seconds: float, options: TranscribeOptions, label: str, peers: int = 1
    ) -> TranscriptionResult:
        """One file that fits in one request, `seconds` long, with its retries; `peers` files
        like it go out together (see Pacer.acquire)."""
        model = self.model_for(options)
        profiles = _profiles(model, options, seconds)
        remembered = (model, options.task, options.word_timestamps)
        first_rejection: _Rejected | None = None
        for i in range(self._profile_start.get(remembered, 0), len(profiles)):
            try:
                profile = {"model": model, **profiles[i]}
                result = self._paced(path, ext, seconds, peers, options, profile, label)
            except _Rejected as exc:
                if not exc.about_format:
                    raise EngineError(str(exc), transient=False) from None
                first_rejection = first_rejection or exc
                continue
            if i and first_rejection:
                log.info("server refused %s; using %s from now on", profiles[0], profiles[i])
                self._profile_start[remembered] = i
            return result
        raise EngineError(str(first_rejection), transient=False)

    def _paced(
        self,
        path: str,
        ext: str,
        seconds: float,
        peers: int,
        options: TranscribeOptions,
        profile: dict,
        label: str,
    ) -> TranscriptionResult:
        """One copy of the request at a time, when the pacer gives it a place; the SDK retries
        inside that place, and a timeout or a malformed answer is retried here."""
        tries = self.max_retries + 1
        failure = ""
        for attempt in range(tries):
            ticket = self.pacer.acquire(seconds, peers)
            in_time = False
            try:
                result = self._request(path, ext, options, profile, ticket.timeout, tries)
                in_time = True
                return result
            except openai.APITimeoutError:
                hold = self.pacer.timed_out(ticket)
                failure = (
                    f"no answer within OPENAI_TIMEOUT_SECONDS plus {self.timeout_per_audio_second:g} s "
                    f"per second of audio in flight, {ticket.timeout:.1f} s"
                )
                if attempt + 1 < tries:
                    log.warning("%s: %s; slowing down, sending again in %.1f s", label, failure, hold)
                    time.sleep(hold)
            except _Malformed as exc:
                in_time = True
                failure = str(exc)
                if attempt + 1 < tries:
                    log.warning("%s: %s; asking again", label, failure)
                    time.sleep(min(0.5 * 2**attempt, 8.0))
            finally:
                (self.pacer.answered if in_time else self.pacer.release)(ticket)
        raise EngineError(
            f"the transcription service kept failing ({failure}); tried {tries} times.", transient=True
        )

    def _request(
        self, path: str, ext: str, options: TranscribeOptions, profile: dict, timeout: float, tries: int
    ) -> TranscriptionResult:
        kwargs = dict(profile)
        audio = self.client.audio.transcriptions
        if options.task == "translate":
            audio = self.client.audio.translations  # takes no language: it answers in English
        elif options.language:
            kwargs["language"] = options.language
        if options.prompt and profile["model"] != DIARIZE_MODEL:  # which takes no prompt
            kwargs["prompt"] = options.prompt
        if options.voices and profile["model"] == DIARIZE_MODEL:
            kwargs["known_speaker_names"] = [v.id for v in options.voices]
            kwargs["known_speaker_references"] = [v.reference for v in options.voices]
        stem = os.path.splitext(os.path.basename(path))[0] or "audio"
        try:
            with open(path, "rb") as f:
                raw = audio.with_raw_response.create(
                    file=(f"{stem}.{ext}", f, f"audio/{ext}"),
                    timeout=openai.Timeout(timeout, connect=min(timeout, 10.0)),
                    **kwargs,
                )
            body = raw.http_response.text
        except openai.APIStatusError as exc:
            message = self.redact(_api_message(exc))
            if exc.status_code in RETRIED or exc.status_code >= 500:
                raise EngineError(
                    f"the transcription service kept failing (HTTP {exc.status_code}: {message}); "
                    f"tried {tries} times.",
                    transient=True,
                ) from None
            about_format = str(getattr(exc, "param", "") or "") in _FORMAT_WORDS or any(
                w in message for w in _FORMAT_WORDS
            )
            raise _Rejected(
                f"The transcription service refused the request (HTTP {exc.status_code}): {message}",
                about_format,
            ) from None
        except openai.APITimeoutError:
            raise
        except openai.APIConnectionError as exc:
            raise EngineError(
                self.redact(
                    f"could not connect to the transcription service: {exc.__cause__ or exc}; "
                    f"tried {tries} times."
                ),
                transient=True,
            ) from None
        result = self._parse(
            body, profile["response_format"], profile["model"], {v.id for v in options.voices}
        )
        result.language = result.language or ("en" if options.task == "translate" else options.language or "")
        return result

    def _parse(
        self, body: str, response_format: str, model: str, known: Collection[str] = ()
    ) -> TranscriptionResult:
        if response_format == "text":
            data: dict = {"text": body}
        else:
            try:
                data = json.loads(body)
            except ValueError:
                raise _Malformed("the answer was not valid JSON") from None
            if not isinstance(data, dict) or not isinstance(data.get("text"), str):
                raise _Malformed("the answer had no text")
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
        # diarized_json labels speakers A, B, ... in order heard, and known speakers by the
        # names sent (our ids): ids S1, S2, ..., the known ones kept, no new one taking theirs.
        ids: dict[str, str] = {k: k for k in known}
        fresh = (f"S{n}" for n in itertools.count(1) if f"S{n}" not in known)
        for seg in segments:
            if seg.speaker is not None:
                seg.speaker = ids.get(seg.speaker) or ids.setdefault(seg.speaker, next(fresh))
        return TranscriptionResult(
            text=join_text(segments) if timestamps else data["text"].strip(),
            language=_language(data.get("language")),
            duration=duration,
            segments=segments,
            model=model,
            engine=self.name,
            timestamps=timestamps,
        )


def _with_speakers(result: TranscriptionResult, options: TranscribeOptions) -> TranscriptionResult:
    """Where speakers were asked for, the result names those heard (id -> "Speaker N"), as the local engine's does."""
    if options.speakers is not None:
        result.speakers = heard(result.segments)
    return result


def _api_message(exc) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return exc.message


def _segment(s: dict) -> Segment:
    words = [_word(w) for w in s["words"]] if s.get("words") else None
    speaker = str(s["speaker"]) if s.get("speaker") is not None else None
    return Segment(
        float(s.get("start", 0.0)), float(s.get("end", 0.0)), str(s.get("text", "")).strip(), words, speaker
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


# whisper-1 names the language ("english"); Whisper's own names, lower-cased, map back to codes.
_LANGUAGES = {name.lower(): code for code, name in NAMES.items()}


def _language(value) -> str:
    # whisper-1's verbose_json names the language ("english"); we store codes.
    value = str(value or "").strip().lower()
    return _LANGUAGES.get(value, value)
