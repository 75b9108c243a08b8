"""Where a model runs and in which precision: `--device`, `--dtype` and `--device-map`, resolved once.

`auto` means: the first accelerator this machine has (CUDA, then Apple's MPS, then the CPU), and the
checkpoint's own dtype, except that on a CUDA GPU with bfloat16 support a float32 or bfloat16 checkpoint
runs in bfloat16 (the dtype such models are trained and served in; float32 would double memory for
nothing). An unavailable device is bad input: one line, never a CUDA traceback.
"""

from __future__ import annotations

import torch

from polyedit.errors import PolyeditError

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")  # accelerate's placement strategies


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(spec: str | torch.device | None) -> torch.device:
    """`auto`/None: CUDA, then MPS, then CPU. Otherwise the named device, which must exist here."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise PolyeditError(f"unknown device {spec!r} (cpu, cuda, cuda:N, mps or auto)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda}, no GPU visible"
            raise PolyeditError(f"device {spec!r}: CUDA is not available (torch {torch.__version__} {built}); "
                                f"use --device cpu or --device auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise PolyeditError(f"device {spec!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not _mps_available():
        raise PolyeditError(f"device {spec!r}: MPS is not available on this machine; use --device cpu or auto")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise PolyeditError(f"device {spec!r}: polyedit runs on cpu, cuda or mps")
    return device


def resolve_dtype(spec: str | None, device: torch.device, checkpoint: torch.dtype | None) -> torch.dtype:
    """The dtype to load in. `auto`: the checkpoint's (float32 if it names none), bfloat16 on a GPU that
    supports it for float32/bfloat16 checkpoints, and float16 instead of bfloat16 on a GPU that lacks it."""
    if spec not in (None, "auto"):
        if spec not in DTYPES:
            raise PolyeditError(f"unknown dtype {spec!r} (known: auto, {', '.join(DTYPES)})")
        return DTYPES[spec]
    stored = checkpoint if checkpoint in (torch.float32, torch.float16, torch.bfloat16) else torch.float32
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16 if stored in (torch.float32, torch.bfloat16) else stored
        return torch.float16 if stored == torch.bfloat16 else stored
    return stored


def checkpoint_dtype(config) -> torch.dtype | None:
    """The dtype a transformers config says the weights were saved in (`dtype`, formerly `torch_dtype`)."""
    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(value, str):
        value = DTYPES.get(value.replace("torch.", ""))
    return value if isinstance(value, torch.dtype) else None


def check_device_map(device_map, device: str | None) -> None:
    """A device map is accelerate's (`auto`, ... or an explicit {module: device}); with one, `--device` must be
    left at auto, since the map decides where every layer goes."""
    if device_map is None:
        return
    if isinstance(device_map, str) and device_map not in DEVICE_MAPS:
        raise PolyeditError(f"unknown device map {device_map!r} (known: {', '.join(DEVICE_MAPS)}, or a mapping)")
    if device not in (None, "", "auto"):
        raise PolyeditError("--device-map places every layer itself: leave --device at auto")
    try:
        import accelerate  # noqa: F401
    except ImportError:
        raise PolyeditError("--device-map needs the `accelerate` library (pip install accelerate)") from None


def placement(model: torch.nn.Module, requested_map=None) -> dict:
    """What a run records about where the model ran: input device, dtype, the devices of its parameters
    and the device map (accelerate's placement, or the one asked for when everything fitted on one device
    and transformers placed the model without one)."""
    devices = sorted({str(p.device) for p in model.parameters()})
    dtypes = sorted({str(p.dtype).replace("torch.", "") for p in model.parameters()})
    out = {"device": str(model.get_input_embeddings().weight.device), "devices": devices,
           "dtype": dtypes[0] if len(dtypes) == 1 else dtypes}
    device_map = getattr(model, "hf_device_map", None) or requested_map
    if isinstance(device_map, str):
        out["device_map"] = device_map
    elif device_map:
        out["device_map"] = {k: str(v) for k, v in device_map.items()}
    return out


def index_at(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """x[rows, cols] with the index tensors moved to x's device: with a device map, a layer's activations
    live on that layer's device, not where the inputs (and index tensors) were made."""
    return x[rows.to(x.device), cols.to(x.device)]
