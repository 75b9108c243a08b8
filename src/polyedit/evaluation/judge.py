"""LLM-as-judge: a model behind any OpenAI-compatible endpoint (`/v1/chat/completions`, the recommended
route for chat models, or `/v1/completions`) says whether a generated answer is right, for answers exact
match cannot see (a synonym, another spelling, a longer phrasing, a chat model's sentence).

- The prompt is multilingual by content: the question in its own language, the language named, the gold
  answer with every alias, the prediction; the instruction asks for one word, YES or NO.
- Parsing is strict: the verdict's first word, stripped of punctuation and case, must be `yes` or `no`.
  Anything else (a sentence, "maybe", an empty reply) and an endpoint that cannot be reached are
  *unscored*: the probe gets no `judge_correct` value, never a 0, and the count of unscored probes is
  kept (`Judge.unscored`), so a broken judge cannot pass for a strict one.
- A permanent error (a 4xx other than 429: a wrong model name or key, a chat-only model asked on the
  completions route) while the judge has never answered stops the run with that one line; a judge that
  answers but never with YES or NO is a note at the top of the summary and on the console.
- Verdicts are cached in a JSON-lines file keyed by the judge model and the exact prompt, so a resumed or
  repeated run asks nothing twice; unscored verdicts are not cached (they are retried next time).
- Results name the judge: the descriptor of the `judge` protocol (kind "judged") carries the endpoint's
  model name and the prompt version.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from pathlib import Path

from polyedit.data.languages import get_language
from polyedit.data.normalize import answer_stops, cut_answer
from polyedit.errors import PolyeditError
from polyedit.evaluation.engine import Evaluation
from polyedit.evaluation.metrics import register_metric
from polyedit.models.openai_backend_http import EndpointError

PROMPT_VERSION = "1"
JUDGE_TOKENS = 4
register_metric("judge_correct", "judge", "an LLM judge's YES on the generated answer (junk or unreachable: unscored)")
JUDGE_PROMPT = (
    "You are grading a short answer to a factual question. The question is in {language}; the answer may be "
    "in any language or script, and counts as correct if it names the same thing as the gold answer or one "
    "of the accepted alternatives, even when spelt, transliterated or translated differently.\n"
    "Question ({language}): {question}\n"
    "Gold answer: {gold}\n"
    "Also accepted: {aliases}\n"
    "Answer to grade: {prediction}\n"
    "Is the answer to grade correct? Reply with one word, YES or NO.\n"
    "Verdict:")


def judge_prompt(question: str, lang: str, gold: str, aliases: tuple[str, ...], prediction: str) -> str:
    return JUDGE_PROMPT.format(language=get_language(lang).name, question=question.strip(), gold=gold,
                               aliases=", ".join(aliases) if aliases else "(none)", prediction=prediction.strip() or "(empty)")


def parse_verdict(text: str) -> float | None:
    """1.0 for YES, 0.0 for NO (any case, trailing punctuation allowed); None for anything else."""
    words = unicodedata.normalize("NFKC", text).strip().split()
    if not words:
        return None
    word = "".join(c for c in words[0] if not unicodedata.category(c).startswith("P")).casefold()
    return {"yes": 1.0, "no": 0.0}.get(word)


class Judge:
    """`backend`: anything with `generate(prompts, max_new_tokens, stop)` (an `OpenAIBackend`), and
    `model_name`. `cache`: a JSON-lines file of verdicts (created on first use)."""

    def __init__(self, backend, model_name: str, cache: str | Path | None = None, api: str = "completions") -> None:
        self.backend, self.model_name, self.api = backend, model_name, api
        self.cache_path = Path(cache) if cache else None
        self.cache: dict[str, str] = {}
        self.unscored = 0
        self.asked = 0
        self.answered = 0  # replies the endpoint gave, junk or not (cached ones included)
        if self.cache_path and self.cache_path.exists():
            for line in self.cache_path.read_text("utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self.cache[rec["key"]] = rec["verdict"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a torn last line of a killed run

    def describe(self) -> dict:
        return {"name": "judge", "kind": "judged", "version": PROMPT_VERSION, "judge_model": self.model_name,
                "judge_api": self.api,
                "help": "an LLM judge's YES/NO on the generated answer; junk or unreachable = unscored",
                "metrics": ["judge_correct"], "parsing": "first word YES or NO, else unscored"}

    def _key(self, prompt: str) -> str:
        return hashlib.sha256(f"{self.model_name}\n{prompt}".encode()).hexdigest()

    def _ask(self, todo: list[tuple[str, str]]) -> dict[str, str]:
        """key -> raw reply; `<unreachable: ...>` for a prompt the endpoint could not answer. A prompt too
        long for the judge's context fails alone; any other permanent error before the judge has ever
        answered stops the run."""
        try:
            gens = self.backend.generate([p for _, p in todo], JUDGE_TOKENS, ("\n",))
            return {k: g.text for (k, _), g in zip(todo, gens)}
        except EndpointError as e:
            if e.too_long and len(todo) > 1:
                return {k: v for item in todo for k, v in self._ask([item]).items()}
            if not self.answered and not e.too_long:  # wrong on every request so far: nothing will work
                raise PolyeditError(f"the judge cannot be used: {e}") from None
            return {k: f"<unreachable: {e}>" for k, _ in todo}
        except (PolyeditError, OSError) as e:
            return {k: f"<unreachable: {e}>" for k, _ in todo}

    def verdicts(self, prompts: list[str]) -> list[tuple[float | None, str]]:
        """(verdict, raw reply) per prompt; raw is `<unreachable: ...>` when the endpoint failed."""
        keys = [self._key(p) for p in prompts]
        todo = sorted({k: p for k, p in zip(keys, prompts) if k not in self.cache}.items())
        fresh: dict[str, str] = {}
        if todo:
            self.asked += len(todo)
            fresh = self._ask(todo)
            keep = {k: v for k, v in fresh.items() if parse_verdict(v) is not None}
            self.cache.update(keep)
            if keep and self.cache_path:
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.cache_path, "a", encoding="utf-8") as f:
                    for k, v in keep.items():
                        f.write(json.dumps({"key": k, "judge": self.model_name, "verdict": v}, ensure_ascii=False) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
        out = []
        for k in keys:
            raw = self.cache.get(k, fresh.get(k, ""))
            v = parse_verdict(raw)
            self.unscored += v is None
            self.answered += not raw.startswith("<unreachable")
            out.append((v, raw))
        return out


def judge_evaluation(ev: Evaluation, judge: Judge, source: str = "answer") -> None:
    """Add `judge_correct` to every probe whose `source` protocol generated an answer (in place); the
    judge's reply goes into the probe's outputs, so samples.jsonl shows it."""
    todo = [r for r in ev.results if r.outputs.get(source)]
    prompts = [judge_prompt(r.probe.prompt, r.probe.lang, r.probe.answer, r.probe.aliases,
                            cut_answer(r.outputs[source][0], answer_stops(r.prompt))) for r in todo]
    for r, (verdict, raw) in zip(todo, judge.verdicts(prompts)):
        r.outputs["judge"] = [raw]
        if verdict is not None:
            r.metrics["judge_correct"] = verdict
            r.protocol_of["judge_correct"] = "judge"
    # the judged answers are `source`'s: whether their prompts went through the chat template is its
    ev.protocols["judge"] = {**judge.describe(),
                             "chat_template": bool(ev.protocols.get(source, {}).get("chat_template", False))}


def make_judge(base_url: str, model_name: str | None, cache: Path | None = None,
               api_key_env: str = "OPENAI_API_KEY", api: str = "chat", response_cache=None, ledger=None) -> Judge:
    """A judge on an OpenAI-compatible endpoint, over its chat route (`api="chat"`) or its completions route
    (generation only: no logprobs asked for). `cache`: the verdicts file; `response_cache`, `ledger`: the
    run's response cache and token ledger (`openai_backend_http`)."""
    from polyedit.models.openai_backend import OpenAIBackend
    from polyedit.models.openai_backend_chat import ChatBackend

    if not model_name:
        raise PolyeditError("a judge endpoint needs a model name (--judge-model)")
    if api == "chat":
        backend = ChatBackend(base_url, model_name, api_key_env=api_key_env, purpose="judge", extract=False,
                              cache=response_cache, ledger=ledger)
    elif api == "completions":
        backend = OpenAIBackend(base_url, model_name, api_key_env=api_key_env, logprobs=False, purpose="judge",
                                cache=response_cache, ledger=ledger)
    else:
        raise PolyeditError(f"--judge-api {api!r}: expected chat or completions")
    return Judge(backend, model_name, cache, api)
