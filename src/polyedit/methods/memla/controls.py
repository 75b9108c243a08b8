"""Controls for MEMLA, each a named method that differs from it in one fixed respect (Xie et al. 2024 §5.3
ablate the categories; the random-neuron and plain-LoRA controls ask whether the attributed neurons and
their masks matter at all):

- `memla-random`: as many neurons per block and category as MEMLA attributes, drawn at random from the
  neurons attribution did not select;
- `memla-lora`: LoRA restricted to MEMLA's layers and rank: the same pairs (r = rank_per_neuron x |neurons|
  per block), the same loss, steps and commit, without the neuron masks;
- `memla-specific`: the language-specific editor only;
- `memla-independent`: the language-independent editor only.

Each keeps MEMLA's search space, so `polyedit tune` gives it the same budget, and fixes its control field
(a `choices` of one value): `--hparams` cannot turn a control back into MEMLA. `control_of` names the
method it is a control of, for the comparison report.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from polyedit.methods.base import param, register_method
from polyedit.methods.memla.config import MEMLAHParams
from polyedit.methods.memla.memla_main import MEMLA


class RandomNeuronsHParams(MEMLAHParams):
    neuron_selection: Literal["random"] = param("random", "the control: random neurons, as many per block and category "
                                                "as MEMLA attributes")


class UnmaskedHParams(MEMLAHParams):
    use_masks: bool = param(False, "the control: MEMLA's pairs on the whole projection, unmasked")

    @model_validator(mode="after")
    def _masks_fixed(self) -> HParams:
        _fixed(self, "use_masks", False)
        return self


class SpecificOnlyHParams(MEMLAHParams):
    use_independent: bool = param(False, "the control: no language-independent editor")

    @model_validator(mode="after")
    def _independent_fixed(self) -> HParams:
        _fixed(self, "use_independent", False)
        return self


class IndependentOnlyHParams(MEMLAHParams):
    use_specific: bool = param(False, "the control: no language-specific editor")

    @model_validator(mode="after")
    def _specific_fixed(self) -> HParams:
        _fixed(self, "use_specific", False)
        return self


def _fixed(hp: MEMLAHParams, name: str, value) -> None:
    from polyedit.errors import PolyeditError

    if getattr(hp, name) != value:
        raise PolyeditError(f"{type(hp).__name__}: {name} is what this control fixes ({value}); "
                            f"use the method memla for {name}: {getattr(hp, name)}")


def _control(name: str, hparams: type[MEMLAHParams], description: str) -> type[MEMLA]:
    cls = type(f"MEMLA_{name.split('-')[1].capitalize()}", (MEMLA,),
               {"name": name, "hparams_class": hparams, "description": description, "control_of": "memla",
                "__module__": __name__, "__doc__": description})
    return register_method(cls)


MEMLARandom = _control("memla-random", RandomNeuronsHParams,
                       "control of MEMLA: random neurons, as many per block and category as it attributes")
MEMLALoRA = _control("memla-lora", UnmaskedHParams,
                     "control of MEMLA: LoRA on MEMLA's layers at its rank, without the neuron masks")
MEMLASpecific = _control("memla-specific", SpecificOnlyHParams,
                         "control of MEMLA: the language-specific neurons' editor only")
MEMLAIndependent = _control("memla-independent", IndependentOnlyHParams,
                            "control of MEMLA: the language-independent neurons' editor only")
