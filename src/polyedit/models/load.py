"""Load any causal LM by hub id, local path, or `world:NAME` (the built-in knowledge-world models).

The built-in model is a normal `save_pretrained` folder, so it goes through exactly this path too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import torch

from polyedit.data.jsonio import read_text, read_yaml
from polyedit.errors import PolyeditError
from polyedit.models.device import check_device_map, checkpoint_dtype, placement, resolve_device, resolve_dtype
from polyedit.models.hub import local_only as hub_local_only
from polyedit.models.state import MethodState


@dataclass
class LoadedModel:
    """A model, its tokenizer, and what polyedit found out about its architecture."""

    model: torch.nn.Module
    tokenizer: object
    name: str
    meta: dict = field(default_factory=dict)
    #: what editing methods keep about this model between edits (`polyedit.models.state`)
    method_state: MethodState = field(default_factory=MethodState, repr=False, compare=False)

    @property
    def device(self) -> torch.device:
        """Where inputs go: the input embeddings' device (with a device map, later layers may sit elsewhere;
        accelerate's hooks move activations between them, and editors follow each weight's own device)."""
        return self.model.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.get_input_embeddings().weight.dtype

    def placement(self) -> dict:
        """{device, devices, dtype[, device_map]}: what a run records about where the model ran."""
        return placement(self.model, self.meta.get("device_map"))

    @cached_property
    def arch(self):
        from polyedit.models.arch import find_architecture

        return find_architecture(self.model, self.meta.get("modules"))


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
    return resolve_device(device)


def load_model(spec: str, *, dtype: str = "auto", device: str | None = "auto", device_map: str | dict | None = None,
               trust_remote_code: bool = False, revision: str | None = None,
               modules: dict[str, str] | None = None) -> LoadedModel:
    """Load a causal LM and its tokenizer.

    `device`: cpu, cuda[:N], mps or auto (CUDA, then MPS, then CPU); `dtype`: float32, bfloat16, float16 or
    auto (see `models.device.resolve_dtype`); `device_map`: accelerate's `auto` (or an explicit mapping)
    spreads a model larger than one device over all of them. Weights come only from safetensors files (a
    pickled `pytorch_model.bin` is refused: unpickling can run code), and remote code runs only when
    `trust_remote_code` is asked for. `modules` names the MLP projections methods edit (`models.arch`), where
    those found from the model's structure are not wanted.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    if dtype != "auto":
        resolve_dtype(dtype, torch.device("cpu"), None)  # an unknown dtype fails before anything is read
    from safetensors import SafetensorError

    check_device_map(device_map, device)
    target = resolve_device(device)  # before anything is read: a missing GPU is one line
    path = resolve_model_path(spec)
    side = {"editing_hparams": editing_hparams(path), "dataset": default_dataset(path)}  # damage: before the weights
    hub = {"local_files_only": True} if not Path(path).exists() and hub_local_only(path, revision) else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision, **hub)
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision, **hub)
        torch_dtype = resolve_dtype(dtype, target, checkpoint_dtype(config))
        placed = {"device_map": device_map} if device_map is not None else {}
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype,
                                                     trust_remote_code=trust_remote_code, revision=revision,
                                                     use_safetensors=True, **placed, **hub)  # never unpickle weights
    except PolyeditError:
        raise
    except SafetensorError as e:
        raise PolyeditError(f"cannot load model {spec!r}: its safetensors weights are damaged ({_first_line(e)})") from None
    except (OSError, ValueError, EnvironmentError) as e:  # missing files, remote code refused, bad config
        raise PolyeditError(f"cannot load model {spec!r}: {_first_line(e)}") from None
    except RuntimeError as e:
        if "mismatched_sizes" not in str(e):
            raise
        raise PolyeditError(f"cannot load model {spec!r}: the sizes in its config.json do not match its "
                            f"weights") from None
    if device_map is None:
        model.to(target)
    model.eval()
    prepare_tokenizer(tokenizer)
    meta = {"path": path, **side}
    if device_map is not None:
        meta["device_map"] = device_map
    if modules:
        meta["modules"] = dict(modules)
    return LoadedModel(model, tokenizer, spec, meta)


def default_dataset(path: str) -> str | None:
    """A model folder may name the dataset it is evaluated on by default in `dataset.txt` (one dataset spec;
    the knowledge-world models name their own world), so no caller pairs models with data by name."""
    file = Path(path) / "dataset.txt"
    spec = read_text(file).strip() if file.is_file() else ""
    return spec or None


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


#: files of which a local model folder needs at least one, or transformers quietly fetches another tokenizer
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")


def editing_hparams(path: str) -> dict[str, dict]:
    """A model folder may ship recommended editing hyperparameters in `editing.yaml` ({method: {field:
    value}}), as it ships `generation_config.json`; runs use them unless told otherwise."""
    file = Path(path) / "editing.yaml"
    if not file.is_file():
        return {}
    data = read_yaml(file) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PolyeditError(f"{file}: expected a mapping of method name to hyperparameters")
    return data


def prepare_tokenizer(tokenizer) -> None:
    """Batched scoring needs a pad token; reuse EOS (padding is always masked out)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
