"""`--evaluate-test`: the chosen configuration, run by `bench` on the test split (never seen by the search),
into `DIR/test`; `DIR/test.json` says which trial it is and its headline numbers with 95% intervals."""

from __future__ import annotations

import json
from pathlib import Path

from polyedit.data.jsonio import read_json
from polyedit.errors import PolyeditError
from polyedit.evaluation.store import write_atomic
from polyedit.methods.base import METHODS
from polyedit.tune.config import TuneConfig, objectives

TEST_DIR = "test"


def read_chosen(out: Path) -> dict:
    path = out / "chosen.json"
    if not path.exists():
        raise PolyeditError(f"{out} has no chosen configuration yet (no trial has completed)")
    return read_json(path)


def evaluate_test(cfg: TuneConfig, out: str | Path, lm=None, progress: bool = True, device: str = "auto") -> dict:
    from polyedit.api import bench
    from polyedit.models.load import load_model

    out = Path(out)
    chosen = read_chosen(out)
    if chosen["finished"] < cfg.trials:
        raise PolyeditError(f"{out}: the search has finished {chosen['finished']} of {cfg.trials} trials; "
                            f"finish it before evaluating on the test split")
    hp = METHODS.get(cfg.method).hparams_class.from_dict(chosen["hparams"], where=str(out / "chosen.json"))
    folder = out / TEST_DIR
    if (folder / "run.json").exists():
        saved = read_json(folder / "run.json").get("config", {})
        if saved.get("hparams") != json.loads(json.dumps(hp.to_dict())):
            raise PolyeditError(f"{folder} holds the test run of another configuration than the chosen trial "
                                f"{chosen['chosen']['number']}; remove {folder} to evaluate the chosen one")
    lm = lm if lm is not None else load_model(cfg.model, device=device)
    summary = bench(lm, spec=cfg.run_spec(hp.to_dict(), test=True), out=folder, resume=True, progress=progress)
    values = objectives(summary, cfg.transfer)
    others = summary["mean_excluding_edit_language"][cfg.transfer]
    result = {"chosen_trial": chosen["chosen"]["number"], "test_data": cfg.test_data, "n_cases": summary["n_cases"],
              "transfer_kind": cfg.transfer, "transfer": values["transfer"], "transfer_ci95": others.get("ci95"),
              "locality": values["locality"], "locality_ci95": summary["mean"]["locality"].get("ci95"),
              f"edit_language_{cfg.transfer}": values[f"edit_language_{cfg.transfer}"],
              "ci_method": summary.get("ci_method"), "folder": TEST_DIR}
    write_atomic(out / "test.json", json.dumps(result, indent=2, ensure_ascii=False))
    return result
