"""Bi-ZsRE (Wang et al., "Cross-Lingual Knowledge Editing in Large Language Models", 2023): zsRE in English
and Chinese, 1,037 test facts; MzsRE's 743 are a subset of them.

Spec: `bizsre:PATH[:edit_lang=en|zh][:langs=...]`; PATH is `bizsre_test.json` or a folder holding it.
Both directions: `edit_lang=en` edits in English and probes both languages, `edit_lang=zh` edits in
Chinese. Files: krystalan/Bi-ZsRE points to a Google Drive folder and holds no data itself; the copy used
here is github.com/YukinoshitaKaren/X_KDE `eval/data/bizsre_test.json` (../shared/data/bi-zsre/README.md).

Format: a JSON array of `{"en": BLOCK, "zh": BLOCK}`, BLOCK as MzsRE's (`polyedit.data.mzsre`), which
converts it: the same probes, the same handling of defects. Quirks of this file, counted:
- the zh `loc` of the "Glass Candy" record ("尼古拉斯") does not translate the English one: corrected
  from MzsRE's copy (`errata.json`);
- 46 Chinese `src` strings are shared by 2-3 records (distinct English questions translated alike; 55
  extra records): with `edit_lang=zh` the edits are kept and counted;
- English `alt` values with a leading space (15, e.g. " MAT-49"): stripped.
"""

from __future__ import annotations

from pathlib import Path

from polyedit.data.cases import EditCase
from polyedit.data.mkeb import json_files
from polyedit.data.mzsre import build_cases, errata
from polyedit.data.problems import Report, load_path_dataset, register_format
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset

WHERE = ("bizsre_test.json: a Google Drive link in github.com/krystalan/Bi-ZsRE, or github.com/YukinoshitaKaren/X_KDE "
         "eval/data/")


def load_bizsre(path: Path, edit_lang: str, langs: list[str] | None, report: Report) -> list[EditCase]:
    return build_cases("bizsre", json_files(path, "bizsre"), edit_lang, langs, report, errata("bizsre"))


@register_dataset("bizsre", "Bi-ZsRE (en, zh): bizsre:PATH[:edit_lang=en|zh]; file: bizsre_test.json "
                            "(Google Drive link in github.com/krystalan/Bi-ZsRE; copy in YukinoshitaKaren/X_KDE)",
                  options=("edit_lang", "map"))
def load(spec: DatasetSpec) -> Dataset:
    # Bi-ZsRE's paper scores with EasyEdit's teacher-forced token accuracy, as MzsRE does.
    return load_path_dataset(spec, "bizsre", load_bizsre, ["token_accuracy"], where=WHERE)


def check(path: Path) -> Report:
    report = Report(exhaustive=True)
    load_bizsre(path, "en", None, report)
    return report


register_format("bizsre", "Bi-ZsRE JSON (bizsre_test.json; edit language en)")(check)
