"""Score every probe of a set of cases with every protocol, in as few batched backend calls as possible.

Requests from all probes, languages and protocols are pooled and de-duplicated, then sent to the backend
once for scoring and once per (length, stop) group for generation; the backend sorts them by length and
pads them into batches. An edit handle may rewrite each probe's prompt (in-context editing).

`edit_of` (case id -> edit number) scores several independent edits in one pass: each request carries its
case's edit number, requests are de-duplicated within an edit only, and the backend computes each under its
own edit (`HFBackend.row_deltas`, set by the runner).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from polyedit.data.cases import EditCase, Probe
from polyedit.errors import PolyeditError
from polyedit.evaluation.protocols import ProbeContext, answer_request, get_protocol
from polyedit.models.backend import Backend, ScoreResult


@dataclass
class ProbeResult:
    case_id: str
    index: int  # position of the probe in its case
    probe: Probe
    metrics: dict[str, float] = field(default_factory=dict)
    answer_score: ScoreResult | None = None  # teacher-forced score of (prompt, answer): the locality reference
    prompt: str = ""  # exactly as sent (after an edit handle's rewrite)
    outputs: dict[str, list[str]] = field(default_factory=dict)  # protocol -> the texts it generated
    protocol_of: dict[str, str] = field(default_factory=dict)  # metric -> the protocol that produced it


@dataclass
class Evaluation:
    results: list[ProbeResult]
    unavailable: dict[str, str] = field(default_factory=dict)  # protocol -> why it was not run
    protocols: dict[str, dict] = field(default_factory=dict)  # name -> descriptor, for every protocol run

    def by_key(self) -> dict[tuple[str, int], ProbeResult]:
        return {(r.case_id, r.index): r for r in self.results}


def evaluate(backend: Backend, cases: list[EditCase], protocols: list[str], handle=None,
             reference: Evaluation | None = None, max_new_tokens: int | None = None,
             edit_of: dict[str, int] | None = None) -> Evaluation:
    protos = [get_protocol(p) for p in protocols]
    unavailable = {p.name: f"backend lacks {', '.join(sorted(p.requires - backend.capabilities))}"
                   for p in protos if not p.requires <= backend.capabilities}
    protos = [p for p in protos if p.name not in unavailable]
    refs = reference.by_key() if reference is not None else {}
    stop = handle.stop_strings() if handle is not None else ()
    can_score = "score" in backend.capabilities
    bos = _adds_bos(backend)

    score_reqs: dict[tuple, int] = {}  # (edit, (context, answer)) -> its index
    gen_reqs: dict[tuple, int] = {}  # (edit, (prompt, max new tokens, stop)) -> its index
    plan = []  # (ProbeResult, ctx, [(protocol, score_keys, gen_keys)], answer_key, edit)
    for case in cases:
        edit = edit_of[case.case_id] if edit_of is not None else None
        for idx, probe in enumerate(case.probes):
            prompt = handle.transform_prompt(probe) if handle is not None else probe.prompt
            ref = refs.get((case.case_id, idx))
            ctx = ProbeContext(backend.tokenize, stop, max_new_tokens, ref.answer_score if ref else None, prompt, case,
                               ref.outputs if ref else None, bos)
            # a probe without a gold answer has no (prompt, answer) to score: no teacher-forced reference
            answer_key = answer_request(probe, prompt) if can_score and probe.answer else None
            if answer_key is not None:
                score_reqs.setdefault((edit, answer_key), len(score_reqs))
            steps = []
            for proto in protos:
                needs = proto.needs(probe, prompt, ctx) if proto.applies(probe) else None
                if needs is None:
                    continue
                for r in needs.score:
                    score_reqs.setdefault((edit, r), len(score_reqs))
                for r in needs.generate:
                    gen_reqs.setdefault((edit, r), len(gen_reqs))
                steps.append((proto, needs))
            plan.append((ProbeResult(case.case_id, idx, probe, prompt=prompt), ctx, steps, answer_key, edit))

    rows = (lambda edits: {"rows": list(edits)}) if edit_of is not None else (lambda edits: {})
    scored = backend.score([r for _, r in score_reqs], **rows(e for e, _ in score_reqs)) if score_reqs else []
    generated: dict[tuple, object] = {}
    groups: dict[tuple[int, tuple[str, ...]], list[tuple]] = {}
    for edit, (prompt, n, st) in gen_reqs:
        groups.setdefault((n, st), []).append((edit, prompt))
    for (n, st), asked in groups.items():
        out = backend.generate([p for _, p in asked], n, st, **rows(e for e, _ in asked))
        for (edit, prompt), g in zip(asked, out):
            generated[(edit, (prompt, n, st))] = g

    results = []
    for pr, ctx, steps, answer_key, edit in plan:
        if answer_key is not None:
            pr.answer_score = scored[score_reqs[(edit, answer_key)]]
        for proto, needs in steps:
            res = [scored[score_reqs[(edit, r)]] for r in needs.score] + [generated[(edit, r)] for r in needs.generate]
            metrics = proto.score(pr.probe, res, ctx)
            _check_own(proto, metrics)
            pr.metrics.update(metrics)
            pr.protocol_of.update(dict.fromkeys(metrics, proto.name))
            if needs.generate:
                pr.outputs[proto.name] = [generated[(edit, r)].text for r in needs.generate]
        results.append(pr)
    return Evaluation(results, unavailable, {p.name: describe(p, backend) for p in protos})


def _check_own(proto, metrics: dict) -> None:
    """A protocol emits only the metrics it registered: another protocol's name would overwrite that
    protocol's value in the record (metrics.py)."""
    foreign = set(metrics) - set(proto.metrics)
    if foreign:
        raise PolyeditError(f"protocol {proto.name} emitted {', '.join(sorted(foreign))}, which it did not register "
                            f"(it registers: {', '.join(proto.metrics) or 'none'})")


def describe(proto, backend) -> dict:
    """The protocol's descriptor plus what the backend adds to it: whether this protocol's prompts went
    through a chat template (False for a backend that applies none)."""
    extra = getattr(backend, "protocol_info", None)
    return {**proto.describe(), "chat_template": False, **(extra(proto) if callable(extra) else {})}


def _adds_bos(backend) -> bool:
    tok = getattr(backend, "tok", None)
    bos = getattr(tok, "bos_token_id", None)
    if tok is None or bos is None:
        return False
    ids = tok("a")["input_ids"]
    return bool(ids) and ids[0] == bos
