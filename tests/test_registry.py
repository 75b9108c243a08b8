"""polyedit/registry.py: a name is registered once; a second, different entry under it is refused in one
line, the same entry registered again is accepted."""

import pytest

from polyedit.data.problems import FORMATS
from polyedit.data.registry import DATASETS
from polyedit.errors import PolyeditError
from polyedit.evaluation.metrics import METRICS, register_metric
from polyedit.evaluation.protocols import PROTOCOLS
from polyedit.methods.base import METHODS, get_method, register_method
from polyedit.registry import Registry


def test_a_second_rome_is_refused_in_one_line_and_rome_stays():
    rome = METHODS.get("rome")

    class Impostor(rome):
        name = "rome"

    with pytest.raises(PolyeditError) as e:
        register_method(Impostor)
    assert "\n" not in str(e.value) and "'rome' is already registered" in str(e.value)
    assert METHODS.get("rome") is rome and type(get_method("rome")) is rome


def test_the_same_entry_registered_again_is_accepted():
    rome = METHODS.get("rome")
    assert register_method(rome) is rome
    proto = PROTOCOLS.get("answer")
    assert PROTOCOLS.register("answer", proto) is proto


@pytest.mark.parametrize("registry", [METHODS, DATASETS, FORMATS, PROTOCOLS, METRICS], ids=lambda r: r.kind)
def test_every_registry_refuses_a_collision(registry):
    name = registry.names()[0]
    with pytest.raises(PolyeditError, match=f"{registry.kind} '{name}' is already registered"):
        registry.register(name, object())


def test_a_metric_name_belongs_to_one_protocol():
    # BMIKE-53's token_f1 protocol owns `token_f1`: another protocol must name its own
    with pytest.raises(PolyeditError, match="metric 'token_f1' is already registered"):
        register_metric("token_f1", "generation", "standard token F1")
    assert register_metric("token_f1", "token_f1", "standard token F1 of the BMIKE-53 answer").protocol == "token_f1"


def test_a_fresh_registry_refuses_then_frees_a_name():
    r = Registry("thing")
    r.register("a", 1)
    with pytest.raises(PolyeditError):
        r.register("a", 2)
    r.unregister("a")
    assert r.register("a", 2) == 2 and r.get("a") == 2


def test_an_entry_point_plug_in_registers_on_the_first_lookup(tmp_path, monkeypatch):
    """A package installed beside polyedit (here: a distribution's metadata on sys.path, as pip leaves it)
    names a module in the group `polyedit.datasets`; the registry imports it on its first lookup."""
    import sys

    from polyedit.data.registry import load_dataset

    (tmp_path / "polyedit_plugin_demo.py").write_text(
        "from polyedit.data.dataset import Dataset\n"
        "from polyedit.data.registry import register_dataset\n"
        "from polyedit.data.cases import make_case\n\n"
        "@register_dataset('plugin-demo', 'a dataset from another package')\n"
        "def load(spec):\n"
        "    return Dataset('plugin-demo', [make_case('p1', 'en', 'Ana', 'Ana lives in', 'Oslo')])\n", "utf-8")
    info = tmp_path / "polyedit_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: polyedit-plugin-demo\nVersion: 0.1\n", "utf-8")
    (info / "entry_points.txt").write_text("[polyedit.datasets]\ndemo = polyedit_plugin_demo\n", "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(DATASETS, "_discovered", False)  # as in a fresh process: entry points not yet read
    try:
        assert "plugin-demo" in DATASETS
        assert [c.case_id for c in load_dataset("plugin-demo").cases] == ["p1"]
        assert DATASETS.help("plugin-demo") == "a dataset from another package"
    finally:
        DATASETS.unregister("plugin-demo")
        sys.modules.pop("polyedit_plugin_demo", None)
