"""The files and cases tests build: a sweep file, the numbers of a sweep's cells, a jsonl dataset, and the
capital-of-France case the neuron methods' tests edit. Fixtures in the conftest files call these."""

from __future__ import annotations

import json
from pathlib import Path

from polyedit.data.cases import Probe, make_case

from helpers.fast import WORLD_FT_M, WORLD_LORA
from helpers.run_files import numbers_only


def write_sweep(folder: Path, **over) -> Path:
    """The issue's grid: 2 methods x 2 datasets x 3 probe languages on world:small, 3 cases per cell."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ftm.yaml").write_text(json.dumps(WORLD_FT_M))
    (folder / "lora.yaml").write_text(json.dumps(WORLD_LORA))
    doc = {"models": ["world:small"],
           "methods": [{"name": "ft-m", "hparams": "ftm.yaml"}, {"name": "lora", "hparams": "lora.yaml"}],
           "datasets": ["world:small", "world:small:edit_lang=de"], "langs": ["en", "de", "fr"],
           "limit": 3, "shard_size": 2, "resources": {"workers": 2, "cpus_per_worker": 1}}
    doc.update(over)
    path = folder / "sweep.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


def sweep_numbers(out: Path) -> dict:
    """Every number of every cell of a sweep (results and summaries), provenance left out."""
    res = {}
    for cell in sorted(p.parent for p in out.glob("*/cell.json")):
        res[cell.name] = {
            "results": [numbers_only(json.loads(x)) for x in (cell / "results.jsonl").read_text().splitlines()],
            "summary": numbers_only(json.loads((cell / "summary.json").read_text())),
        }
    return res


def person_cases_jsonl(path: Path, n: int = 12) -> str:
    """A jsonl dataset of `n` cases with distinct subjects, en edits, de probes; its spec."""
    lines = []
    for i in range(n):
        c = make_case(f"c{i}", "en", f"Person {i}", f"Person {i} lives in", "Oslo", "Lima",
                      [Probe("reliability", "de", f"Person {i} wohnt in", "Oslo", "Lima"),
                       Probe("locality", "en", "The sky is", "blue")])
        lines.append(json.dumps(c.to_dict()))
    path.write_text("\n".join(lines) + "\n")
    return f"jsonl:{path}"


def capital_case():
    """An English edit with the fact also stated in zh and fr (reliability) and an en paraphrase."""
    return make_case("c1", "en", "France", "The capital of France is", "Berlin", "Paris", probes=[
        Probe("reliability", "zh", "法国的首都是", "柏林", "巴黎", "法国"),
        Probe("reliability", "fr", "La capitale de la France est", "Berlin", "Paris", "France"),
        Probe("generality", "en", "Paris is the capital of France, and the capital of France is", "Berlin", "Paris"),
        Probe("locality", "de", "Berlin ist die Hauptstadt von", "Deutschland"),
    ])
