"""Load any causal LM by hub id, local path, or `world:NAME` (the built-in knowledge-world models).

The built-in model is a normal `save_pretrained` folder, so it goes through exactly this path too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import torch

from polyedit.errors import PolyeditError

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "auto": "auto"}


@dataclass
class LoadedModel:
    """A model, its tokenizer, and what polyedit found out about its architecture."""

    model: torch.nn.Module
    tokenizer: object
    name: str
    meta: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @cached_property
    def arch(self):
        from polyedit.models.arch import find_architecture

        return find_architecture(self.model)


def world_checkpoint(name: str) -> Path:
    """Folder of a built-in knowledge-world model (`world:small` -> polyedit/world/checkpoints/small)."""
    root = Path(str(resources.files("polyedit"))) / "world" / "checkpoints"
    path = root / name
    if not (path / "config.json").is_file():
        known = sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []
        raise PolyeditError(f"no built-in world model {name!r} (built: {', '.join(known) or 'none'}; "
                            f"build one with `polyedit world build --size {name}`)")
    return path


def resolve_model_path(spec: str) -> str:
    if spec.startswith("world:"):
        return str(world_checkpoint(spec.split(":", 1)[1] or "small"))
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise PolyeditError(f"model path {spec!r} has no config.json")
        if not any((path / f).is_file() for f in TOKENIZER_FILES):
            raise PolyeditError(f"model folder {spec!r} has no tokenizer (none of {', '.join(TOKENIZER_FILES)})")
        return str(path)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise PolyeditError(f"model path {spec!r} does not exist")
    return spec  # a hub id: transformers resolves it (cache, or the hub when online)


def pick_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise PolyeditError(f"unknown device {device!r}") from None


def load_model(spec: str, *, dtype: str = "float32", device: str | None = "cpu",
               trust_remote_code: bool = False, revision: str | None = None) -> LoadedModel:
    """Load a causal LM and its tokenizer.

    Weights come only from safetensors files (a pickled `pytorch_model.bin` is refused: unpickling can run
    code), and remote code runs only when `trust_remote_code` is asked for.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    if dtype not in DTYPES:
        raise PolyeditError(f"unknown dtype {dtype!r} (known: {', '.join(DTYPES)})")
    from safetensors import SafetensorError

    path = resolve_model_path(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype],
                                                     trust_remote_code=trust_remote_code, revision=revision,
                                                     use_safetensors=True)  # never unpickle weights
    except PolyeditError:
        raise
    except SafetensorError as e:
        raise PolyeditError(f"cannot load model {spec!r}: its safetensors weights are damaged ({_first_line(e)})") from None
    except (OSError, ValueError, EnvironmentError) as e:  # missing files, remote code refused, bad config
        raise PolyeditError(f"cannot load model {spec!r}: {_first_line(e)}") from None
    model.to(pick_device(device)).eval()
    prepare_tokenizer(tokenizer)
    return LoadedModel(model, tokenizer, spec, {"path": path, "editing_hparams": editing_hparams(path),
                                                "dataset": default_dataset(path)})


def default_dataset(path: str) -> str | None:
    """A model folder may name the dataset it is evaluated on by default in `dataset.txt` (one dataset spec;
    the knowledge-world models name their own world), so no caller pairs models with data by name."""
    file = Path(path) / "dataset.txt"
    spec = file.read_text("utf-8").strip() if file.is_file() else ""
    return spec or None


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


#: files of which a local model folder needs at least one, or transformers quietly fetches another tokenizer
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")


def editing_hparams(path: str) -> dict[str, dict]:
    """A model folder may ship recommended editing hyperparameters in `editing.yaml` ({method: {field:
    value}}), as it ships `generation_config.json`; runs use them unless told otherwise."""
    import yaml

    file = Path(path) / "editing.yaml"
    if not file.is_file():
        return {}
    try:
        data = yaml.safe_load(file.read_text("utf-8")) or {}
    except yaml.YAMLError as e:
        raise PolyeditError(f"{file}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PolyeditError(f"{file}: expected a mapping of method name to hyperparameters")
    return data


def prepare_tokenizer(tokenizer) -> None:
    """Batched scoring needs a pad token; reuse EOS (padding is always masked out)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
