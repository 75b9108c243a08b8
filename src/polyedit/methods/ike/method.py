"""IKE: in-context knowledge editing (Zheng et al. 2023), in BMIKE-53's protocol (Nie et al. 2024).

No weight changes: the new fact and a few demonstrations go into the prompt, so the same method edits a
local model and a closed model behind an API. `apply` returns a handle whose `transform_prompt` rewrites
every probe into the in-context prompt (see `prompts.py`) and whose stop string is `"`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal

from pydantic import model_validator

from polyedit.data.cases import Edit, EditCase, Probe
from polyedit.errors import PolyeditError
from polyedit.methods.base import EditHandle, EditMethod, HParams, param, register_method
from polyedit.models.context import check_fits, probe_text
from polyedit.methods.ike.demos import CasePool, Demo, bmike_pool, demo_from_case, pool_task
from polyedit.methods.ike.prompts import ANSWER_STOP, in_context_prompt
from polyedit.methods.ike.retrieval import DEFAULT_ST_MODEL, NearestEdits, make_embedder
from polyedit.methods.ike.select import (AUTHORS_ONE_SHOT_ID, RETRIEVAL_SETTINGS, SETTINGS, manual_demos,
                                         portability_tail, roles)
from polyedit.methods.search import choice

#: `pool` values that build the demonstrations from the edits of `corpus` ("world" is the older name)
CASE_POOLS = ("cases", "world")


class IKEHParams(HParams):
    setting: Literal[SETTINGS] = param("mixed_8", "which demonstrations go into the prompt",
                         search=choice("zero_shot", "one_shot", "mixed_8"))
    pool: str = param("auto", "demonstration pool: auto (what the case's dataset declares: its published pool, "
                      "else one built from its own edits), a BMIKE-53 task (zsre, counterfact, wikifactdiff), "
                      "or cases (built from `corpus`'s edits)")
    pool_dir: str | None = param(None, "BMIKE-53 root holding demonstrations/ (default: the case's own "
                                 "dataset's, then POLYEDIT_BMIKE53_DIR, then the hub)")
    corpus: str | None = param(None, "dataset spec of the edits that case pools and retrieval draw from "
                               "(default: the one the case's dataset declares, {lang} standing for the "
                               "query language)")
    embedder: Literal["auto", "tfidf", "sentence-transformers"] = param(
        "auto", "retrieval embeddings: auto (sentence-transformers if available offline, else TF-IDF)")
    embedding_model: str = param(DEFAULT_ST_MODEL, "sentence-transformers model of the retrieval")
    one_shot_id: int = param(AUTHORS_ONE_SHOT_ID, "the demonstration id of the one-shot setting", ge=1, le=32)

    @model_validator(mode="after")
    def _known_pool(self) -> HParams:
        if self.pool != "auto" and self.pool not in CASE_POOLS:
            pool_task(self.pool)
        return self


class IKEHandle(EditHandle):
    """Changes no weights (works without a local model); rewrites probes into in-context prompts."""

    def __init__(self, lm, cases: list[EditCase], method: IKE, info: dict[str, Any]) -> None:
        super().__init__(lm, (), info)  # no parameters backed up: restore() only marks the handle
        self.cases = cases
        self.method = method

    def _case_for(self, probe: Probe) -> EditCase:
        if len(self.cases) == 1:
            return self.cases[0]
        # several edits in one handle: the one about the probe's subject (probes carry no case id)
        for c in self.cases:
            if (probe.subject and probe.subject == c.edit.subject) or c.edit.subject in probe.prompt:
                return c
        return self.cases[0]

    def demos_for(self, probe: Probe) -> list[Demo]:
        return self.method.demos_for(self._case_for(probe), probe.kind, probe.lang)

    def in_context_prompt(self, probe: Probe) -> str:
        """The probe rewritten: demonstrations, the new fact, the question (`prompts.py`)."""
        case = self._case_for(probe)
        demos = self.method.demos_for(case, probe.kind, probe.lang)
        return in_context_prompt([d.parts() for d in demos], case.edit.prompt, case.edit.target_new, probe.prompt,
                                 case.edit.lang)

    def transform_prompt(self, probe: Probe) -> str:
        """`in_context_prompt`, refused with one line when it, with the probe's longest answer, is longer
        than a local model's context (`polyedit.models.context`'s rule; the runner drops such cases
        before it starts, through `IKE.texts_read`, so only a direct caller meets the refusal)."""
        prompt = self.in_context_prompt(probe)
        if self.lm is not None:
            check_fits(self.lm, [probe_text(prompt, probe)], f"in-context prompt of the {probe.kind} probe ({probe.lang})")
        return prompt

    def stop_strings(self) -> tuple[str, ...]:
        return (ANSWER_STOP,)


@register_method
class IKE(EditMethod):
    name = "ike"
    hparams_class = IKEHParams
    description = "in-context editing (IKE; BMIKE-53's prompts): new fact and demonstrations in the prompt"
    supports_batch = False
    #: changes no weights: runs on a remote endpoint without a local model
    edits_in_context = True

    def __init__(self, hparams: IKEHParams | None = None) -> None:
        super().__init__(hparams)
        self._datasets: dict[str, list[EditCase]] = {}
        self._indexes: OrderedDict[tuple[str, str], tuple[NearestEdits, list[EditCase]]] = OrderedDict()
        self._case_pools: dict[tuple[str, str, str | None], CasePool] = {}
        self._embedder = None

    # -- where demonstrations come from -------------------------------------------------------------

    # A dataset declares its cases' demonstrations in their meta (`demo_pool`: a BMIKE-53 task whose published
    # pool to use, `demo_dir`: where it lies, `demo_corpus`: a spec of edits to build demonstrations from
    # and retrieve from); the hyperparameters override them.

    def _pool_name(self, case: EditCase) -> str:
        """A BMIKE-53 task (its published 32 demonstrations), or "cases" (built from the corpus's edits)."""
        if self.hparams.pool != "auto":
            return "cases" if self.hparams.pool in CASE_POOLS else pool_task(self.hparams.pool)
        return pool_task(case.meta["demo_pool"]) if case.meta.get("demo_pool") else "cases"

    def _bmike_root(self, case: EditCase) -> str:
        from polyedit.data.hub import bmike53_root

        return str(bmike53_root(self.hparams.pool_dir or case.meta.get("demo_dir"))[0])

    def _corpus_spec(self, case: EditCase, lang: str) -> str:
        spec = self.hparams.corpus or case.meta.get("demo_corpus")
        if not spec:
            raise PolyeditError(f"ike: the dataset of case {case.case_id!r} declares no demonstrations; "
                                "set corpus: SPEC (edits to build them from) or pool: zsre|counterfact|wikifactdiff "
                                "(in --hparams FILE)")
        return spec.replace("{lang}", lang)

    def _cases(self, spec: str) -> list[EditCase]:
        if spec not in self._datasets:
            from polyedit.data.registry import load_dataset

            self._datasets[spec] = load_dataset(spec).cases
        return self._datasets[spec]

    def _pool(self, case: EditCase, lang: str) -> list[Demo]:
        pool = self._pool_name(case)
        if pool != "cases":
            return bmike_pool(pool, self._bmike_root(case)).demos(lang)
        spec = self._corpus_spec(case, lang)
        cases = self._cases(spec)[::-1]  # from the end: evaluation starts at the front
        key = (spec, lang, None)
        if key not in self._case_pools:
            self._case_pools[key] = CasePool(spec, cases)
        p = self._case_pools[key]
        demos = p.demos(lang)
        if case.case_id in p.sources(lang):  # never show a case its own edit
            key = (spec, lang, case.case_id)
            if key not in self._case_pools:
                self._case_pools[key] = CasePool(spec, [c for c in cases if c.case_id != case.case_id])
            demos = self._case_pools[key].demos(lang)
        return demos

    def embedder(self):
        if self._embedder is None:
            self._embedder = make_embedder(self.hparams.embedder, self.hparams.embedding_model)
        return self._embedder

    def _index(self, spec: str) -> tuple[NearestEdits, list[EditCase]]:
        key = (spec, self.embedder().name)
        if key not in self._indexes:
            cases = self._cases(spec)
            texts = [f"{c.edit.prompt} {c.edit.target_new}" for c in cases]  # MIKE-search's key: src + " " + alt
            self._indexes[key] = (NearestEdits(texts, self.embedder()), cases)
            while len(self._indexes) > 2:  # one TF-IDF matrix per language: keep memory bounded
                self._indexes.popitem(last=False)
        return self._indexes[key]

    def retrieved(self, case: EditCase, lang: str) -> list[Demo]:
        """The nearest corpus edits with their roles, nearest last (edits lacking the role's probe in
        `lang` are passed over for the next nearest)."""
        n = RETRIEVAL_SETTINGS[self.hparams.setting]
        index, cases = self._index(self._corpus_spec(case, lang))
        exclude = {i for i, c in enumerate(cases) if c.case_id == case.case_id}
        ranked = index.nearest(f"{case.edit.prompt} {case.edit.target_new}", len(cases), exclude)
        out, pos = [], 0
        for rank, role in enumerate(roles(n, self.hparams.seed, case.case_id)):
            while pos < len(ranked):
                d = demo_from_case(cases[ranked[pos]], role, lang, rank + 1)
                pos += 1
                if d is not None:
                    out.append(d)
                    break
        return out[::-1]

    def demos_for(self, case: EditCase, kind: str, lang: str) -> list[Demo]:
        setting = self.hparams.setting
        if setting == "zero_shot":
            return []
        pool = self._pool(case, lang)
        if setting in RETRIEVAL_SETTINGS:
            demos = self.retrieved(case, lang)
            return demos + portability_tail(pool) if setting == "mike_search" else demos
        return manual_demos(setting, pool, kind, self.hparams.seed, self.hparams.one_shot_id)

    # -- the method -----------------------------------------------------------------------------------

    def _info(self, cases: list[EditCase]) -> dict[str, Any]:
        info: dict[str, Any] = {"setting": self.hparams.setting}
        if self.hparams.setting != "zero_shot":  # zero-shot shows no demonstration
            info["pool"] = ",".join(sorted({p if p != "cases" else self._corpus_spec(c, c.edit.lang)
                                            for c in cases for p in [self._pool_name(c)]}))
        if self.hparams.setting in RETRIEVAL_SETTINGS:
            info["embedder"] = self.embedder().name
            if getattr(self.embedder(), "note", None):
                info["notes"] = [self.embedder().note]
        return info

    def apply_cases(self, lm, cases: list[EditCase]) -> EditHandle:
        self.hparams = self.resolved(lm)  # the model's editing.yaml, known only now; the prompts read it later
        if self.hparams.setting != "zero_shot":
            for c in cases:  # fail on a missing pool or corpus now, not inside the evaluation
                if self._pool_name(c) == "cases" or self.hparams.setting in RETRIEVAL_SETTINGS:
                    self._corpus_spec(c, c.edit.lang)
        return IKEHandle(lm, list(cases), self, self._info(cases))

    def apply(self, lm, edits: list[Edit]) -> EditHandle:
        return self.apply_cases(lm, [EditCase(f"edit-{i}", e) for i, e in enumerate(edits)])

    def texts_read(self, lm, case: EditCase) -> list[str]:
        """The in-context prompts the model reads for the case's probes (demonstrations included), each
        with its longest answer: what the context rule measures for IKE. The edit is never read alone."""
        self.hparams = self.resolved(lm)  # as apply_cases sets them: the prompts depend on them
        handle = IKEHandle(lm, [case], self, {})
        return [probe_text(handle.in_context_prompt(p), p) for p in case.probes]
