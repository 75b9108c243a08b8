"""A fake bench for the search tests: the trial's summary as a fixed function of FT-L's hyperparameters."""

from types import SimpleNamespace

from polyedit.errors import PolyeditError

FAKE_LM = SimpleNamespace(arch=SimpleNamespace(n_layers=4), name="fake")


def fake_summary(hp) -> dict:
    """A bench summary whose numbers are a fixed function of FT-L's hyperparameters: a larger radius and
    more steps transfer more and keep less locality; an lr above 0.05 'diverges' (a failed trial)."""
    if hp.lr > 0.05:
        raise PolyeditError("ft-l: the update left non-finite weights")
    r = min(1.0, hp.norm_constraint * 20)
    transfer = round(r * hp.steps / 100 + 0.01 * hp.layers[0], 6)
    locality = round(1 - 0.5 * r + 0.02 * hp.layers[0] * r, 6)
    entry = {"metric": "answer_em", "protocol": {"name": "answer"}, "post": transfer, "pre": 0.0}
    return {"mean_excluding_edit_language": {"reliability": entry},
            "mean": {"locality": {"metric": "answer_unchanged", "protocol": {"name": "answer_locality"},
                                  "post": locality}},
            "cross_lingual": {"reliability": {"en": {"en": 1.0, "de": transfer}}}, "seconds_per_edit": 0.0}
