"""One small hooking utility, used by every method: read or change a module's input or output.

    with trace(model, ["model.layers.2.mlp.down_proj"], retain_input=True) as t:
        model(**batch)
    k = t["model.layers.2.mlp.down_proj"].input

`edit_output(name, output) -> output` (or `edit_input`) changes what flows on, e.g. to insert v* or to
scale a neuron's activation.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn


@dataclass
class Traced:
    input: torch.Tensor | None = None
    output: torch.Tensor | None = None


def _first(x):
    return x[0] if isinstance(x, tuple) else x


class _Trace(dict):
    def __init__(self) -> None:
        super().__init__()
        self._handles: list = []


@contextmanager
def trace(model: nn.Module, names: list[str] | str, *, retain_input: bool = False, retain_output: bool = True,
          detach: bool = False, edit_input: Callable | None = None, edit_output: Callable | None = None,
          ) -> Iterator[dict[str, Traced]]:
    names = [names] if isinstance(names, str) else list(names)
    t = _Trace()
    batch: dict[str, tuple[int, int]] = {}

    def record_batch(mod, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if torch.is_tensor(ids) and ids.dim() == 2:
            batch["shape"] = (ids.shape[0], ids.shape[1])

    def unflatten(x):
        """A module that runs on flattened (tokens, d) input (Qwen2-MoE's shared expert) is seen as
        (batch, positions, d), as every other module is; the flag says to flatten an edit back."""
        b = batch.get("shape")
        if b is not None and torch.is_tensor(x) and x.dim() == 2 and x.shape[0] == b[0] * b[1]:
            return x.view(b[0], b[1], x.shape[-1]), True
        return x, False

    try:
        t._handles.append(model.register_forward_pre_hook(record_batch, with_kwargs=True))
        for name in names:
            module = model.get_submodule(name)
            t[name] = Traced()

            def pre(mod, args, kwargs, _name=name):
                # the input is the first positional argument, or the first keyword one (`proj(input=x)`)
                x, flat = unflatten(_first(args) if args else _first(next(iter(kwargs.values()))))
                if edit_input is not None:
                    new = edit_input(_name, x)
                    if new is not x:
                        passed = new.reshape(-1, new.shape[-1]) if flat else new
                        if args:
                            args = (passed, *args[1:])
                        else:
                            kwargs = {**kwargs, next(iter(kwargs)): passed}
                        x = new
                if retain_input:
                    t[_name].input = x.detach() if detach else x
                return args, kwargs

            def post(mod, args, output, _name=name):
                o, flat = unflatten(_first(output))
                if edit_output is not None:
                    o = edit_output(_name, o)
                    new = o.reshape(-1, o.shape[-1]) if flat else o
                    output = (new, *output[1:]) if isinstance(output, tuple) else new
                if retain_output:
                    t[_name].output = o.detach() if detach else o
                return output

            if retain_input or edit_input is not None:
                t._handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
            t._handles.append(module.register_forward_hook(post))
        yield t
    finally:
        for h in t._handles:
            h.remove()
