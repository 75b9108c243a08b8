"""A run's edits as LoRA adapters: written one per edit (one per batch in batch mode) with `bench --save-edits
DIR`, and scored through a server that loads adapters at run time with `bench --backend openai
--edits-as-adapters` (vLLM started with `--enable-lora` and `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`, or
`polyedit serve`).

In the served run the edits are still made here, on the local model (the methods need its gradients and
statistics); each is then written as an adapter (`polyedit.methods.adapter`), loaded into the server
(`POST /v1/load_lora_adapter`), its probes scored through the OpenAI backend with `model` set to the
adapter's name, and unloaded (`POST /v1/unload_lora_adapter`). The unedited model is the server's base
model. An adapter is named by its method and the hash of its weights, so the response cache can never
hand one edit's answers to another.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
from dataclasses import asdict
from pathlib import Path

from polyedit.data.cases import EditCase
from polyedit.methods.adapter import DEFAULT_MAX_ERROR, write_adapter
from polyedit.methods.base import EditHandle


class EditWriter:
    """Writes each chunk's edits, in place, as one adapter folder under `root`, named by its first case."""

    def __init__(self, root: str | Path, method: str, rank: int | None = None,
                 max_error: float = DEFAULT_MAX_ERROR) -> None:
        self.root, self.method, self.rank, self.max_error = Path(root), method, rank, max_error

    def write(self, handles: list[EditHandle], cases: list[EditCase]) -> Path:
        path = self.root / folder_name(cases[0].case_id)
        if path.exists():  # a chunk that a resumed run redoes: its adapter is written again
            shutil.rmtree(path)
        about = {"case_ids": [c.case_id for c in cases], "edits": [asdict(c.edit) for c in cases]}
        return write_adapter(handles, path, self.method, rank=self.rank, max_error=self.max_error, about=about)


def folder_name(case_id: str) -> str:
    """A folder name for a case id: its safe characters, and a hash of the whole id so two ids never share one."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", case_id)[:48].strip("._") or "case"
    return f"{safe}-{hashlib.sha256(case_id.encode('utf-8')).hexdigest()[:8]}"


def adapter_name(path: str | Path, method: str) -> str:
    """The name an adapter is served under: its method and the hash of its weights."""
    digest = hashlib.sha256((Path(path) / "adapter_model.safetensors").read_bytes()).hexdigest()[:16]
    return f"{method}-{digest}"


class ServedAdapters:
    """A backend for the unedited model at an endpoint (every `Backend` call goes to it) that also scores an
    edit through the same endpoint once its adapter is loaded there (`serving`)."""

    def __init__(self, backend, method: str) -> None:
        self.backend, self.method = backend, method

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def describe(self) -> dict:
        return {**self.backend.describe(), "edits": "each scored as a LoRA adapter the endpoint loaded at run time"}

    @contextlib.contextmanager
    def serving(self, path: Path):
        """Load the adapter at `path`, yield the backend that asks for it by name, unload it however the block ends."""
        name = adapter_name(path, self.method)
        endpoint = self.backend.endpoint
        endpoint.manage("load_lora_adapter", {"lora_name": name, "lora_path": str(Path(path).resolve())})
        try:
            yield self.backend.for_model(name)
        finally:
            endpoint.manage("unload_lora_adapter", {"lora_name": name})


@contextlib.contextmanager
def edited_backend(backend, writer: EditWriter | None, handles: list[EditHandle], cases: list[EditCase]):
    """The backend that scores the edited model: `backend` itself for a local model (the edits are in its
    weights), or the served adapter of these edits. The adapter is written first where `writer` is given."""
    path = writer.write(handles, cases) if writer is not None else None
    if isinstance(backend, ServedAdapters):
        with backend.serving(path) as served:
            yield served
    else:
        yield backend
