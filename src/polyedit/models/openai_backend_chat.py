"""A backend for any OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI, Anthropic's and Gemini's
OpenAI-compatible APIs, vLLM, SGLang, Ollama, llama.cpp server, `polyedit serve`): generation only.

A method builds a completion prompt (IKE's demonstrations, new fact and open question); how it becomes
messages is a *chat protocol*, declared in `CHAT_PROTOCOLS` and recorded on every metric:
- `user_prompt`: the completion prompt as it is, one user message, followed by a short instruction to
  answer with the answer only;
- `demo_turns`: the demonstrations as alternating user/assistant turns, the lines before the question (the
  new fact) in the system message with the instruction, the question as the last user message.
Both are generic over the prompt: blocks separated by a blank line are demonstrations, the last block is
the query, and a demonstration's answer starts where the query's last line ends (its longest suffix found
in the block, e.g. `" Answer: "`). A prompt without that shape is sent whole, as in `user_prompt`.

Chat models answer in sentences, and providers cap stop sequences at four, so nothing is sent as a stop
string: the answer is extracted client-side (`extract_answer`: the first non-empty line, a leading one-word
label such as `Answer:` dropped, the text inside a leading quote, then the caller's and the prompt's
stop rules of `normalize.answer_stops`). Decoding is greedy where the provider allows it (`temperature: 0`,
and `seed`), recorded in `describe()`. Teacher-forced protocols need prompt log-probabilities, which chat
APIs do not give: the backend has only the `generate` capability, so the engine reports them unavailable.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from polyedit.data.normalize import QUOTE_PAIRS, SENTENCE_END, SPACED_SENTENCE_END, answer_stops
from polyedit.errors import PolyeditError
from polyedit.models.backend import Generation, cut_at_stop
from polyedit.models.openai_backend import word_ids
from polyedit.models.openai_backend_http import Endpoint, EndpointClient, Ledger, ResponseCache, RetryPolicy

#: chat models often open with a label or quotes: fewer tokens than this would cut the answer itself off
MIN_CHAT_TOKENS = 32
SENTENCE_MARKS = frozenset(SPACED_SENTENCE_END + SENTENCE_END)
ANSWER_ONLY = "Reply with the answer only: a few words, no sentence, no explanation."

#: the chat protocols: name -> what it sends (recorded with each metric's protocol)
CHAT_PROTOCOLS = {
    "user_prompt": "the method's completion prompt as one user message, then the answer-only instruction",
    "demo_turns": "demonstrations as user/assistant turns; the new fact and the answer-only instruction in the "
                  "system message; the question as the last user message",
}


def _answer_start(block: str, query_line: str) -> int | None:
    """Where a demonstration's answer starts: after the longest suffix of the query's last line in it."""
    for n in range(len(query_line), 0, -1):
        at = block.rfind(query_line[-n:])
        if at >= 0 and at + n < len(block):
            return at + n
    return None


def demo_turns(prompt: str, stop: tuple[str, ...]) -> list[dict] | None:
    """The `demo_turns` messages of a completion prompt, or None when it has no demonstrations or fact."""
    *demos, query = prompt.split("\n\n")
    *facts, question = query.split("\n")
    messages = [{"role": "system", "content": "\n".join([ANSWER_ONLY, *facts])}]
    for block in (b for b in demos if b.strip()):
        at = _answer_start(block, question)
        if at is None:
            return None
        answer = cut_at_stop(block[at:], stop).strip()
        messages += [{"role": "user", "content": block[:at].rstrip()}, {"role": "assistant", "content": answer}]
    if len(messages) == 1 and not facts:
        return None
    return messages + [{"role": "user", "content": question.rstrip()}]


def user_prompt(prompt: str) -> list[dict]:
    return [{"role": "user", "content": f"{prompt.rstrip()}\n\n{ANSWER_ONLY}"}]


def to_messages(protocol: str, prompt: str, stop: tuple[str, ...]) -> list[dict]:
    if protocol == "demo_turns":
        return demo_turns(prompt, stop) or user_prompt(prompt)
    return user_prompt(prompt)


def _drop_label(text: str) -> str:
    """`Answer: Lima`, `Antwort: "Lima"`, `答え：リマ` -> the text after a leading one-word label."""
    for colon in ("：", ":"):  # a label is letters only: "12:30" and "http://..." are answers
        label, found, rest = text.partition(colon)
        if found and label.isalpha() and len(label) <= 24:
            return rest.lstrip()
    return text


def extract_answer(reply: str, prompt: str, stop: tuple[str, ...] = ()) -> str:
    """The answer in a chat reply: the first non-empty line, a leading one-word label (`Answer:`) dropped,
    the text inside a leading quote, cut at the first of `stop` and the prompt's stop rules (`answer_stops`),
    without a final full stop when it is the only one (so "D.C." keeps its own)."""
    text = _drop_label(next((line.strip() for line in reply.splitlines() if line.strip()), ""))
    if text and text[0] in QUOTE_PAIRS:
        close = text.find(QUOTE_PAIRS[text[0]], 1)
        text = text[1:close] if close > 0 else text[1:]
    text = cut_at_stop(text, tuple(stop) + answer_stops(prompt)).strip()
    # a chat reply's own full stop ("Rom."), not an abbreviation's ("D.C.")
    if text[-1:] in SENTENCE_MARKS and not any(c in SENTENCE_MARKS for c in text[:-1]):
        text = text[:-1].rstrip()
    return text


class ChatBackend(EndpointClient):
    """`Backend` over /v1/chat/completions: one request per prompt, `concurrency` in flight. `protocol`: a
    key of `CHAT_PROTOCOLS`; `extract=False` sends each prompt as one user message and keeps the reply's first
    line as it is (the judge writes its own instruction and parses its own verdict)."""

    def __init__(self, base_url: str, model_name: str, *, protocol: str = "user_prompt",
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 4, timeout: float = 120.0,
                 seed: int | None = 0, retry: RetryPolicy | None = None, cache: ResponseCache | None = None,
                 ledger: Ledger | None = None, purpose: str | None = None, extract: bool = True) -> None:
        if protocol not in CHAT_PROTOCOLS:
            raise PolyeditError(f"unknown chat protocol {protocol!r} (known: {', '.join(CHAT_PROTOCOLS)})")
        self.endpoint = Endpoint(base_url, model_name, api_key_env=api_key_env, timeout=timeout, retry=retry,
                                 cache=cache, ledger=ledger)
        self.url = self.endpoint.url("chat")
        self.model_name, self.protocol, self.seed, self.extract = model_name, protocol, seed, extract
        self.purpose = purpose or f"chat:{protocol}"
        self.concurrency = max(1, concurrency)
        self.capabilities = frozenset({"generate"})
        self._vocab: dict[str, int] = {}
        self._vocab_lock = threading.Lock()
        self.notes = ["chat endpoint: teacher-forced (probability) protocols unavailable; token-level metrics "
                      "count words and punctuation; answers extracted client-side (first line, quotes, stop rules)"]

    def __repr__(self) -> str:
        return f"ChatBackend(url={self.url!r}, model={self.model_name!r}, protocol={self.protocol!r})"

    def decoding(self) -> dict:
        return {"temperature": 0, **({"seed": self.seed} if self.seed is not None else {})}

    def describe(self) -> dict:
        return {"backend": "openai-chat", "api": "chat", "url": self.url, "model": self.model_name,
                "chat_protocol": self.protocol, "decoding": {**self.decoding(), "min_max_tokens": MIN_CHAT_TOKENS},
                "notes": list(self.notes),
                "ledger": self.ledger.to_dict()}

    def protocol_info(self, protocol) -> dict:
        """Every metric's record: the chat protocol, and that the server's chat template read the prompts."""
        return {"chat_template": True, "chat_protocol": self.protocol, "decoding": self.decoding()}

    def _id(self, token: str) -> int:
        with self._vocab_lock:
            return self._vocab.setdefault(token, len(self._vocab))

    def tokenize(self, text: str) -> list[int]:
        return word_ids(text, self._id)

    def messages(self, prompt: str, stop: tuple[str, ...] = ()) -> list[dict]:
        return to_messages(self.protocol, prompt, stop) if self.extract else [{"role": "user", "content": prompt}]

    def request(self, prompt: str, max_new_tokens: int, stop: tuple[str, ...] = ()) -> dict:
        """The body sent for `prompt` (without the model): what the cache keys and `--max-api-tokens` counts."""
        return {"messages": self.messages(prompt, stop), "max_tokens": max(max_new_tokens, MIN_CHAT_TOKENS),
                **self.decoding()}

    def generate(self, prompts: list[str], max_new_tokens: int, stop: tuple[str, ...] = ()) -> list[Generation]:
        def one(prompt: str) -> Generation:
            resp = self.endpoint.post("chat", self.request(prompt, max_new_tokens, stop), self.purpose)
            choices = resp.get("choices") or []
            if not choices:
                raise PolyeditError(f"{self.url}: an answer without choices")
            reply = (choices[0].get("message") or {}).get("content") or ""
            text = extract_answer(reply, prompt, stop) if self.extract else cut_at_stop(reply.lstrip(), stop)
            return Generation(text, self.tokenize(text))

        if len(prompts) <= 1:
            return [one(p) for p in prompts]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            return list(pool.map(one, prompts))
