"""Named scoring protocols. Each is registered under its name and declares what it needs from the
backend (teacher-forced scores of continuations, or greedy generations); the engine collects the needs
of every probe of a case, runs them in a few padded batches, and hands each protocol its results.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from polyedit.data.cases import LOCALITY, EditCase, Probe
from polyedit.data.languages import join_target
from polyedit.evaluation.metrics import register_metric
from polyedit.models.backend import Generation, ScoreResult
from polyedit.registry import Registry, import_submodules


@dataclass(frozen=True)
class Needs:
    score: tuple[tuple[str, str], ...] = ()  # (context, continuation)
    generate: tuple[tuple[str, int, tuple[str, ...]], ...] = ()  # (prompt, max_new_tokens, stop)


#: what produced a number: the model's own generated text, its probabilities of a given text, or a judge
PROTOCOL_KINDS = ("generated", "teacher-forced", "judged")


@dataclass
class Protocol:
    name: str
    needs: Callable[[Probe, str, "ProbeContext"], Needs | None]  # None: does not apply to this probe
    score: Callable[[Probe, list, "ProbeContext"], dict[str, float]]
    requires: frozenset[str]
    help: str = ""
    kind: str = "teacher-forced"
    #: the metrics it emits, each registered under its own name (`metrics.py`); it may emit no other
    metrics: tuple[str, ...] = ()
    #: how the numbers were made (normalisation, decoding, detector, ...), recorded with every result
    settings: dict = field(default_factory=dict)
    version: str = "1"
    #: how it scores a probe whose gold answer is empty (BMIKE-53's empty `loc_ans`); None: it cannot, and
    #: the engine omits such probes from it (the summary counts them: `aggregate.empty_gold`)
    empty_answer: str | None = None

    def describe(self) -> dict:
        """The descriptor stored under `protocol` with every result: enough to tell two numbers apart."""
        extra = {"empty_answer": self.empty_answer} if self.empty_answer else {}
        return {"name": self.name, "kind": self.kind, "version": self.version, "help": self.help,
                "metrics": list(self.metrics), **self.settings, **extra}

    def applies(self, probe: Probe) -> bool:
        """Whether it may score `probe`: a probe without a gold answer only where it says how."""
        return bool(probe.answer) or self.empty_answer is not None


@dataclass
class ProbeContext:
    """What a protocol may use besides its own results: the backend's tokenizer, stop strings of the
    edit handle, the generation length knob, and the same probe's result before the edit."""

    tokenize: Callable[[str], list[int]]
    stop: tuple[str, ...] = ()
    max_new_tokens: int | None = None
    reference: ScoreResult | None = None  # pre-edit score of (prompt, answer)
    prompt: str | None = None  # the prompt the model is asked (after an edit handle's rewrite)
    case: "EditCase | None" = None  # the probe's case (BMIKE's ppl_compare reads its loc_ans)
    before: dict | None = None  # the same probe's texts generated before the edit, by protocol
    bos: bool = False  # the tokenizer starts every text with a special token (scores can cover a whole text)


#: benchmark-specific protocols live in modules `polyedit/evaluation/protocols_*.py`; importing them
#: registers them
PROTOCOLS: Registry[Protocol] = Registry(
    "protocol", import_submodules("polyedit.evaluation", lambda m: m.name.startswith("protocols_")))


def register_protocol(name: str, requires: set[str], help: str = "", *, kind: str | None = None,
                      metrics: dict[str, str | tuple[str, tuple[str, ...]]], settings: dict | None = None,
                      version: str = "1", empty_answer: str | None = None):
    """`kind` defaults from what the protocol needs: generation -> "generated", scores -> "teacher-forced".
    `metrics`: name -> help, or (help, probe kinds it may head); each is registered as this protocol's.
    `empty_answer`: how it scores a probe whose gold answer is "" (None: it does not score such probes)."""
    kind = kind or ("generated" if "generate" in requires else "teacher-forced")
    if kind not in PROTOCOL_KINDS:
        raise ValueError(f"protocol {name}: kind {kind!r} is not one of {PROTOCOL_KINDS}")

    def deco(pair):
        needs, score = pair
        for metric, spec in metrics.items():
            what, heads = (spec, ()) if isinstance(spec, str) else spec
            register_metric(metric, name, what, heads=heads)
        PROTOCOLS.register(name, Protocol(name, needs, score, frozenset(requires), help, kind, tuple(metrics),
                                          dict(settings or {}), version, empty_answer), help)
        return pair

    return deco


def protocol_names() -> list[str]:
    return PROTOCOLS.names()


def get_protocol(name: str) -> Protocol:
    return PROTOCOLS.get(name)


def answer_request(probe: Probe, prompt: str, answer: str | None = None) -> tuple[str, str]:
    return join_target(prompt, answer if answer is not None else probe.answer, probe.lang)


def token_f1(pred: list[int], gold: list[int]) -> float:
    """Standard token-level F1 (SQuAD-style) over token ids: the multiset overlap."""
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    p, r = common / len(pred), common / len(gold)
    return 2 * p * r / (p + r)


# token_accuracy: EasyEdit's default. Teacher-forced: the share of target tokens that are the model's argmax.
register_protocol("token_accuracy", {"score"}, "teacher-forced share of answer tokens predicted (EasyEdit)",
                  metrics={"token_accuracy": "share of the answer's tokens that are the model's argmax"})((
    lambda probe, prompt, ctx: Needs(score=(answer_request(probe, prompt),)),
    lambda probe, res, ctx: {"token_accuracy": res[0].token_accuracy},
))


# prob_compare: CounterFact / MEMLA edit success: mean token log-prob of the new answer beats the old one.
def _prob_compare_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs | None:
    if probe.answer_true is None or probe.kind == LOCALITY:
        return None
    return Needs(score=(answer_request(probe, prompt), answer_request(probe, prompt, probe.answer_true)))


register_protocol("prob_compare", {"score"}, "mean log-prob of the new answer > the old answer's",
                  metrics={"prob_compare": "the new answer's mean token log-probability beats the old answer's"})((
    _prob_compare_needs,
    lambda probe, res, ctx: {"prob_compare": float(res[0].mean_logprob > res[1].mean_logprob)},
))


# generation: greedy decoding; by default as many new tokens as the gold answer has (MEMLA's rule).
def _generation_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs:
    _, continuation = answer_request(probe, prompt)
    n = ctx.max_new_tokens or len(ctx.tokenize(continuation))
    return Needs(generate=((prompt, n, ctx.stop),))


def _generation_score(probe: Probe, res: list[Generation], ctx: ProbeContext) -> dict[str, float]:
    pred = res[0].text.strip()
    gold = probe.answer.strip()
    return {"exact_match": float(pred == gold),
            "generation_token_f1": token_f1(ctx.tokenize(pred), ctx.tokenize(gold))}


# Version 2: its token F1 is `generation_token_f1` (it was `token_f1`, the name of BMIKE-53's own protocol,
# whose value replaced this one's in a run with both).
register_protocol("generation", {"generate"}, "greedy decoding as long as the gold answer, raw exact match and token F1",
                  metrics={"exact_match": "raw generated text (whitespace stripped) equals the gold answer",
                           "generation_token_f1": "standard token F1 of that text against the gold answer"},
                  version="2",
                  settings={"decoding": {"strategy": "greedy", "max_new_tokens": "gold answer's length"},
                            "normalization": "surrounding whitespace stripped"})((
    _generation_needs, _generation_score,
))


# locality: the share of unrelated probes whose (teacher-forced) prediction the edit left unchanged, and
# accuracy against the expected answer.
def _locality_needs(probe: Probe, prompt: str, ctx: ProbeContext) -> Needs | None:
    return Needs(score=(answer_request(probe, prompt),)) if probe.kind == LOCALITY else None


def _locality_score(probe: Probe, res: list[ScoreResult], ctx: ProbeContext) -> dict[str, float]:
    out = {"locality_accuracy": float(res[0].argmax_ids == res[0].target_ids)}
    ref = ctx.reference if ctx.reference is not None else res[0]  # before the edit: unchanged by definition
    if ref.target_ids == res[0].target_ids:
        out["locality_unchanged"] = float(res[0].argmax_ids == ref.argmax_ids)
    else:
        # The edit rewrote the prompt (in-context editing) and the answer tokenises differently after it
        # (`Answer: "Oslo` vs `... Oslo`): token ids cannot be compared, so "unchanged" means the model
        # gets the expected answer right (or wrong) as it did before the edit.
        before = float(ref.argmax_ids == ref.target_ids)
        out["locality_unchanged"] = float(before == out["locality_accuracy"])
    return out


register_protocol("locality", {"score"}, "locality probes: teacher-forced prediction unchanged by the edit; accuracy",
                  metrics={"locality_unchanged": "teacher-forced prediction unchanged by the edit (EasyEdit)",
                           "locality_accuracy": "teacher-forced prediction equals the expected answer"})((
    _locality_needs, _locality_score,
))

#: the generated-answer protocols come first, so they are the headline; the teacher-forced ones follow as
#: diagnostics (`protocols_answer.py`)
DEFAULT_PROTOCOLS = ("answer", "answer_locality", "token_accuracy", "prob_compare", "locality")
