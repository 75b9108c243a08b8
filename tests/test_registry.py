"""polyedit/registry.py: a name is registered once; a second, different entry under it is refused in one
line, the same entry registered again is accepted."""

import pytest

from polyedit.data.problems import FORMATS
from polyedit.data.registry import DATASETS
from polyedit.errors import PolyeditError
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


@pytest.mark.parametrize("registry", [METHODS, DATASETS, FORMATS, PROTOCOLS], ids=lambda r: r.kind)
def test_every_registry_refuses_a_collision(registry):
    name = registry.names()[0]
    with pytest.raises(PolyeditError, match=f"{registry.kind} '{name}' is already registered"):
        registry.register(name, object())


def test_a_fresh_registry_refuses_then_frees_a_name():
    r = Registry("thing")
    r.register("a", 1)
    with pytest.raises(PolyeditError):
        r.register("a", 2)
    r.unregister("a")
    assert r.register("a", 2) == 2 and r.get("a") == 2
