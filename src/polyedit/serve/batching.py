"""The model side of `polyedit serve`: one worker thread owns the model and serves requests in batches.

Requests arrive from the event loop as jobs (already tokenised and checked against the model's context).
The worker takes the first waiting job, then keeps gathering while more arrive within `window` seconds of
each other (at most `max_wait` in all, at most `max_rows` prompts), and decodes every prompt of the
gathered jobs together with the batched decoder (`models/generation.py`: padded batches, a shared
prefix run once, finished rows dropped), each row with its own `max_tokens`, stop strings and decoding:
greedy, or sampled with its own seeded generator (`RowSampler`, made when the row is served), so a
sampled row's text is the same whichever rows it is batched with. A job is
answered as soon as its own rows are done, not when the whole gathering is. Under load the queue fills
while a batch runs, so the next batch is large without any waiting; alone, a request waits one `window`.

Bounds: a prompt is at most the model's context, `max_tokens` at most what is left of it, a request at
most `MAX_PROMPTS` prompts, so one batch, and so any one request's wait, is bounded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from polyedit.models.backend import cut_at_stop
from polyedit.models.generation import GreedyDecoder, RowSampler, Sampling, plan_batches
from polyedit.models.load import LoadedModel
from polyedit.serve.schema import finite

log = logging.getLogger("polyedit.serve")


@dataclass
class Row:
    """One prompt to complete: its token ids, how many tokens to add, where to stop."""

    prompt: str
    ids: list[int]
    max_tokens: int
    stop: tuple[str, ...] = ()
    offsets: list[int] | None = None  # where each prompt token starts in `prompt` (for logprobs)
    logprobs: int | None = None
    echo: bool = False
    sampling: Sampling | None = None  # None: greedy
    adapter: str | None = None  # the LoRA adapter loaded at run time that the request named, None: the base model


@dataclass
class RowResult:
    text: str
    token_ids: list[int]
    finish_reason: str  # "stop": a stop string or EOS; "length": max_tokens or the model's context
    logprobs: dict | None = None


@dataclass
class Job:
    rows: list[Row]
    future: Future = field(default_factory=Future)
    results: list[RowResult | None] = field(default_factory=list)


class ModelWorker:
    """Owns the model: every forward pass happens on its one thread, never on the event loop."""

    def __init__(self, lm: LoadedModel, batch_size: int = 32, window: float = 0.004, max_wait: float = 0.05,
                 max_rows: int = 256, adapters=None) -> None:
        self.lm = lm
        self.adapters = adapters  # RuntimeAdapters: rows are run in groups, one adapter active per group
        self.batch_size = max(1, batch_size)
        self.window, self.max_wait, self.max_rows = window, max_wait, max(1, max_rows)
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.batches = 0  # gatherings served, and the rows in them (for tests and the log)
        self.rows_served = 0
        self.largest_batch = 0
        self.tok_lock = threading.Lock()  # the tokenizer is shared by the request threads and this one
        self._thread = threading.Thread(target=self._run, name="polyedit-model", daemon=True)
        self._thread.start()

    @property
    def tok(self):
        return self.lm.tokenizer

    def encode(self, text: str, special: bool = True, offsets: bool = False) -> dict:
        with self.tok_lock:
            return self.tok(text, add_special_tokens=special, return_offsets_mapping=offsets)

    def submit(self, rows: list[Row]) -> Future:
        job = Job(rows, results=[None] * len(rows))
        job.future.set_running_or_notify_cancel()
        self.jobs.put(job)
        return job.future

    def close(self, timeout: float = 10.0) -> None:
        self.jobs.put(None)
        self._thread.join(timeout)

    # -- the worker thread ------------------------------------------------------------------------------

    def _gather(self, first: Job) -> tuple[list[Job], bool]:
        jobs, n, closing = [first], len(first.rows), False
        deadline = time.monotonic() + self.max_wait
        while n < self.max_rows:
            wait = min(self.window, deadline - time.monotonic())
            try:
                job = self.jobs.get(timeout=wait) if wait > 0 else self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                closing = True
                break
            jobs.append(job)
            n += len(job.rows)
        return jobs, closing

    def _run(self) -> None:
        while True:
            first = self.jobs.get()
            if first is None:
                return
            jobs, closing = self._gather(first)
            try:
                self._serve(jobs)
            except BaseException as e:  # the model failed: every waiting job hears of it, the worker goes on
                log.exception("model call failed")
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(e)
            if closing:
                return

    def _serve(self, jobs: list[Job]) -> None:
        rows = [(j, i, r) for j in jobs for i, r in enumerate(j.rows)]
        self.batches += 1
        self.rows_served += len(rows)
        self.largest_batch = max(self.largest_batch, len(rows))
        pending = {id(j): len(j.rows) for j in jobs}

        def finished(job: Job, i: int, result: RowResult) -> None:
            job.results[i] = result
            pending[id(job)] -= 1
            if pending[id(job)] == 0 and not job.future.done():
                job.future.set_result(job.results)

        if self.adapters is None:
            return self._serve_rows(rows, finished)
        for name in dict.fromkeys(r.adapter for _, _, r in rows):  # one adapter active at a time
            with self.adapters.active(name):
                self._serve_rows([x for x in rows if x[2].adapter == name], finished)

    def _serve_rows(self, rows: list[tuple[Job, int, Row]], finished) -> None:
        decode = [x for x in rows if x[2].max_tokens > 0]
        for job, i, row in rows:
            if row.max_tokens <= 0:
                self._finish(job, i, row, [], "length", finished)
        if not decode:
            return
        decoder = GreedyDecoder(self.lm.model, self.tok.pad_token_id, self.tok.eos_token_id)
        for idx in plan_batches([x[2].ids for x in decode], self.batch_size):
            chunk = [decode[k] for k in idx]
            outs = decoder.decode([r.ids for _, _, r in chunk], [r.max_tokens for _, _, r in chunk],
                                  [self._stop_test(r.stop) for _, _, r in chunk],
                                  [RowSampler(r.sampling) if r.sampling else None for _, _, r in chunk])
            for (job, i, row), d in zip(chunk, outs):
                text = self.tok.decode(d.token_ids, skip_special_tokens=True)
                cut = cut_at_stop(text, row.stop)
                ids = d.token_ids if cut == text else self.encode(cut, special=False)["input_ids"]
                reason = "stop" if d.stopped or d.eos else "length"
                self._finish(job, i, row, ids, reason, finished, cut)

    def _stop_test(self, stop: tuple[str, ...]):
        if not stop:
            return lambda ids: False
        tok = self.tok
        return lambda ids: any(s in tok.decode(ids, skip_special_tokens=True) for s in stop)

    def _finish(self, job: Job, i: int, row: Row, ids: list[int], reason: str, finished, text: str = "") -> None:
        try:
            lp = self._logprobs(row, ids) if row.logprobs is not None else None
        except BaseException as e:
            log.exception("logprobs failed")
            if not job.future.done():
                job.future.set_exception(e)
            return
        finished(job, i, RowResult(text, ids, reason, lp))

    def _token_text(self, tid: int) -> str:
        """A token as the API shows it: its text, or, for part of a multi-byte character (which decodes to
        U+FFFD alone), `bytes:` and the tokenizer's own spelling, so distinct tokens stay distinct."""
        if tid in self.tok.all_special_ids:
            return ""
        text = self.tok.decode([tid])
        return f"bytes:{self.tok.convert_ids_to_tokens(tid)}" if "\ufffd" in text else text

    @torch.no_grad()
    def _logprobs(self, row: Row, new_ids: list[int]) -> dict:
        """OpenAI's `logprobs` object for one row: every token's log-probability given those before it and
        the top-k alternatives, over the prompt too when echoing (the first token has none)."""
        tok, k = self.tok, row.logprobs
        prompt_ids, starts = row.ids, row.offsets or [0] * len(row.ids)
        new_starts = [len(tok.decode(new_ids[:j], skip_special_tokens=True)) for j in range(len(new_ids))]
        ids = prompt_ids + list(new_ids)
        if row.echo:
            positions, offsets = range(len(ids)), starts + [len(row.prompt) + s for s in new_starts]
        else:
            positions, offsets = range(len(prompt_ids), len(ids)), new_starts
        if not ids or not positions:
            return {"tokens": [], "token_logprobs": [], "top_logprobs": [] if k > 0 else None, "text_offset": []}
        logits = self.lm.model(input_ids=torch.tensor([ids], device=self.lm.device)).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        tokens, token_lps, tops = [], [], []
        for i in positions:
            tokens.append(self._token_text(ids[i]))
            if i == 0:
                token_lps.append(None)
                tops.append(None)
                continue
            row_lp = logp[i - 1]
            token_lps.append(finite(float(row_lp[ids[i]])))
            if k > 0:
                vals, idx = row_lp.topk(k)
                tops.append({self._token_text(int(j)): finite(float(v)) for v, j in zip(vals, idx)})
            else:
                tops.append(None)
        return {"tokens": tokens, "token_logprobs": token_lps, "top_logprobs": tops if k > 0 else None,
                "text_offset": list(offsets)}
