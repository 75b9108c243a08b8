import json
from pathlib import Path

import pytest

FT_M = {"lr": 0.02, "steps": 10}
LORA = {"lr": 0.01, "steps": 10}


def write_sweep(folder: Path, **over) -> Path:
    """The issue's grid: 2 methods x 2 datasets x 3 probe languages on world:small, 3 cases per cell."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ftm.yaml").write_text(json.dumps(FT_M))
    (folder / "lora.yaml").write_text(json.dumps(LORA))
    doc = {"models": ["world:small"],
           "methods": [{"name": "ft-m", "hparams": "ftm.yaml"}, {"name": "lora", "hparams": "lora.yaml"}],
           "datasets": ["world:small", "world:small:edit_lang=de"], "langs": ["en", "de", "fr"],
           "limit": 3, "shard_size": 2, "resources": {"workers": 2, "cpus_per_worker": 1}}
    doc.update(over)
    path = folder / "sweep.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


def numbers(out: Path) -> dict:
    """Every number of every cell (results and summaries), provenance left out."""
    from run_files import numbers_only as strip

    res = {}
    for cell in sorted(p.parent for p in out.glob("*/cell.json")):
        res[cell.name] = {
            "results": [strip(json.loads(x)) for x in (cell / "results.jsonl").read_text().splitlines()],
            "summary": strip(json.loads((cell / "summary.json").read_text())),
        }
    return res


@pytest.fixture(scope="session")
def local_sweep(tmp_path_factory):
    """The grid run in this process: the reference the Ray runs are compared with."""
    from polyedit.sweep import load_sweep
    from polyedit.sweep.runner import run_local

    root = tmp_path_factory.mktemp("local_sweep")
    sweep = load_sweep(write_sweep(root))
    run_local(sweep, root / "out", progress=False)
    return root / "out"
