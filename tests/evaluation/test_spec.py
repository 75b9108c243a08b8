"""The run's specification (evaluation/spec.py): the `bench` options are its fields, every front end builds the
same spec from the same settings, a bad value names its field (as each front end spells it), resume names the
fields that differ."""

from __future__ import annotations

import json

import click
import pytest

from polyedit.cli.bench import command as bench_command
from polyedit.cli.main import main
from polyedit.cli.run_options import CLI_ONLY, flag, spec_from_options
from polyedit.errors import PolyeditError, SpecError
from polyedit.evaluation.spec import RunSpec, access_fields

#: one setting of every kind a field has: text, a list, numbers, a mode, a flag turned off, a default-on flag
SETTINGS = {"model": "world:small", "method": "ft-m", "data": "world:small:n=4", "langs": ["de", "en"], "seed": 7,
            "limit": 4, "mode": "sequential", "edits_per_step": 2, "checkpoints": [2, 4], "retention_sample": 1,
            "recall_sample": 3, "eval_batch_size": "auto", "chat_template": True, "log_samples": False,
            "cache": False, "hparams": {"steps": 1}}
ARGV = ["--model", "world:small", "--method", "ft-m", "--data", "world:small:n=4", "--langs", "de,en,de",
        "--seed", "7", "--limit", "4", "--mode", "sequential", "--edits-per-step", "2", "--checkpoints", "4,2",
        "--retention-sample", "1", "--recall-sample", "3", "--batch-size", "auto", "--chat-template",
        "--no-log-samples", "--no-cache"]


def test_every_field_has_a_bench_option_and_every_option_a_field():
    options = {p.name: p for p in bench_command.params}
    assert set(options) - set(CLI_ONLY) == set(RunSpec.model_fields)
    for name, info in RunSpec.model_fields.items():
        opt = options[name]
        assert flag(name) in opt.opts + opt.secondary_opts, name
        assert opt.help == info.description, name  # help text from the field, never written twice


def test_a_new_field_gets_its_option_by_itself(monkeypatch):
    """Adding a setting is one field declaration: the option, its type and its help follow."""
    from pydantic import Field, create_model

    from polyedit.cli import run_options

    extended = create_model("Extended", __base__=RunSpec,
                            parallel_edits=(int | None, Field(None, description="edits applied at once")))
    monkeypatch.setattr(run_options, "RunSpec", extended)
    cmd = run_options.run_options(click.command("x")(lambda **kw: kw))
    opt = {p.name: p for p in cmd.params}["parallel_edits"]
    assert opt.opts == ["--parallel-edits"] and opt.help == "edits applied at once" and opt.type is click.INT


def _spec_from_cli(argv) -> RunSpec:
    ctx = bench_command.make_context("bench", argv + ["--out", "unused"])
    return spec_from_options(ctx.params)[0]


def test_the_cli_builds_the_spec_the_library_does():
    cli = _spec_from_cli(ARGV + ["--hparams", "x.yaml"])
    assert cli == RunSpec(**{**SETTINGS, "hparams": "x.yaml"})
    assert cli.langs == ["de", "en"] and cli.checkpoints == [2, 4] and cli.cache is False


def test_api_bench_builds_the_spec_it_is_given_from_keywords(monkeypatch, tmp_path):
    import polyedit.api as api

    seen = []

    def capture(lm, method, dataset, out, cfg, **kw):
        seen.append(cfg)
        raise KeyboardInterrupt  # nothing more is needed of the run

    monkeypatch.setattr(api, "run_bench", capture)
    lm = api.load_model("world:small")  # loaded once: a loaded model is recorded by its name
    settings = {k: v for k, v in SETTINGS.items() if k != "model"}
    for call in (lambda: api.bench(lm, **settings, out=tmp_path / "a"),
                 lambda: api.bench(lm, spec=RunSpec(**SETTINGS), out=tmp_path / "b")):
        with pytest.raises(KeyboardInterrupt):
            call()
    assert seen[0] == seen[1] and seen[0].model_dump(exclude={"hparams"}) == \
        RunSpec(**SETTINGS).model_dump(exclude={"hparams"})
    assert seen[0].hparams["steps"] == 1  # recorded resolved: every field of the method's
    with pytest.raises(PolyeditError, match="not both"):
        api.bench("world:small", "ft-m", spec=RunSpec(**SETTINGS), out=tmp_path / "c")


def test_a_sweep_cell_is_the_spec_with_its_fields_varied():
    from polyedit.sweep.spec import parse_sweep

    doc = {"models": ["world:small"], "methods": ["ft-m"],
           "datasets": [{"spec": "world:small:n=4", "langs": ["de", "en"]}],
           "modes": [{"mode": "sequential", "edits_per_step": 2, "checkpoints": [2, 4], "retention_sample": 1,
                      "recall_sample": 3}], "limit": 4, "seed": 7}
    (cell,) = parse_sweep(doc).cells
    assert cell.spec() == RunSpec(**{k: v for k, v in SETTINGS.items()
                                     if k not in ("eval_batch_size", "chat_template", "log_samples", "cache",
                                                  "hparams")})


def test_a_tune_trial_is_the_spec_with_its_hyperparameters_drawn():
    from polyedit.tune.config import PROTOCOLS, TuneConfig

    cfg = TuneConfig(model="world:small", method="ft-m", data="world:small", trials=2, cases=4, seed=7,
                     langs=["de", "en"])
    assert cfg.run_spec({"steps": 1}) == RunSpec(model="world:small", method="ft-m", data="world:small:split=dev",
                                                 langs=["de", "en"], limit=4, seed=7, protocols=PROTOCOLS,
                                                 hparams={"steps": 1}, log_samples=False)
    assert cfg.run_spec({"steps": 1}, test=True).data == "world:small:split=test"


@pytest.mark.parametrize("settings, field, library, cli", [
    ({"limit": 0}, "limit", "limit: must be at least 1, got 0", "--limit: must be at least 1, got 0"),
    ({"seed": 2**31}, "seed", "seed: must be between 0 and 2147483647", "--seed: must be between"),
    ({"checkpoints": [2]}, "checkpoints", "checkpoints: needs mode sequential",
     "--checkpoints: needs --mode sequential"),
    ({"mode": "sequential", "checkpoints": [3], "edits_per_step": 2}, "checkpoints",
     "checkpoints: 3 is not a multiple of edits_per_step 2",
     "--checkpoints: 3 is not a multiple of --edits-per-step 2"),
    ({"eval_batch_size": "0"}, "eval_batch_size", "eval_batch_size: '0': expected a positive integer or auto",
     "--batch-size: '0'"),
    ({"capability_limit": 5}, "capability_limit", "capability_limit: needs capability",
     "--capability-limit: needs --capability"),
    ({"langs": "en,,"}, None, None, None),
    ({"nonsense": 1}, "nonsense", "nonsense: unknown setting", "--nonsense: unknown setting"),
])
def test_a_bad_setting_names_its_field_and_the_cli_its_flag(settings, field, library, cli):
    base = {"model": "m", "method": "ft-m", "data": "world:small"}
    if field is None:
        assert RunSpec(**base, **settings).langs == ["en"]
        return
    with pytest.raises(SpecError) as e:
        RunSpec(**base, **settings)
    assert e.value.field == field and str(e.value).startswith(library)
    assert e.value.render(flag).startswith(cli)


def test_run_json_is_the_spec_and_a_resume_names_the_differing_field(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["bench", "--model", "world:small", "--method", "ft-m", "--data", "world:small:n=2", "--out", str(out),
            "--langs", "en", "--no-log-samples", "--no-cache"]
    assert main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    assert set(run["config"]) | set(run["access"]) == set(RunSpec.model_fields)
    assert set(run["access"]) == access_fields() and run["access"]["cache"] is False
    saved = RunSpec(**{**run["config"], **run["access"]})
    assert saved.config() == run["config"]  # what run.json holds reads back as the same spec
    capsys.readouterr()
    assert main(argv + ["--resume", "--seed", "3"]) == 2
    assert "different configuration (differs in seed)" in capsys.readouterr().err
    assert main(argv + ["--resume", "--device", "cpu"]) == 0  # how the model is reached is no part of the run


def test_a_file_of_settings_per_model_and_method_gives_the_runs_entry(tmp_path):
    """`--hparams` naming what `tune --write-lifelong` writes takes the entry of the run's model and method;
    a plain hyperparameter file stays a file; no entry is an error naming the entries there are."""
    settings = tmp_path / "lifelong.yaml"
    settings.write_text("lifelong:\n  world:small:\n    rome:\n      hparams: {v_steps: 3}\n      provenance: {trials: 1}\n"
                        "    ft-m:\n      hparams: {steps: 2}\n")
    assert RunSpec(model="world:small", method="rome", data="world:small", hparams=str(settings)).hparams == {"v_steps": 3}
    assert RunSpec(model="world:small", method="ft-m", data="world:small", hparams=settings).hparams == {"steps": 2}
    empty = tmp_path / "empty-entry.yaml"  # an entry of no fields: the class defaults, never the file itself
    empty.write_text("lifelong:\n  world:small:\n    rome:\n      hparams: {}\n")
    assert RunSpec(model="world:small", method="rome", data="world:small", hparams=str(empty)).hparams == {}
    plain = tmp_path / "rome.yaml"
    plain.write_text("v_steps: 3\n")
    assert RunSpec(model="world:small", method="rome", data="world:small", hparams=str(plain)).hparams == str(plain)
    with pytest.raises(SpecError) as e:
        RunSpec(model="world:medium", method="rome", data="world:small", hparams=str(settings))
    assert e.value.field == "hparams" and "rome on world:medium" in str(e.value)
    assert "world:small/rome, world:small/ft-m" in str(e.value)
