"""GRACE: the codebook's rules against §3.2 of the paper (known answers), the router inside and outside
ε, the weights never written (restore bit-identical, the hook gone), and edits on world:small that the
model then generates while an unrelated prompt's answer stays."""

import pytest
import torch

from polyedit.data.cases import Edit
from polyedit.methods import get_method
from polyedit.methods.grace.codebook import Codebook
from polyedit.methods.grace.grace_main import active_adaptors
from helpers.weights import state_hash


def v(*xs):
    return torch.tensor(xs, dtype=torch.float32)


def book():
    return Codebook(key_dim=2, value_dim=1)


def test_first_edit_and_a_far_one_add_keys_with_eps_init():
    b = book()
    assert b.update(v(0, 0), "A", 1.0, v(10)) == (0, "add")
    # d = 5 > ε_0 + ε_init = 2: a new entry
    assert b.update(v(3, 4), "B", 1.0, v(20)) == (1, "add")
    assert b.epsilons.tolist() == [1.0, 1.0] and b.labels == ["A", "B"]


def test_same_label_expands_the_radius_to_the_distance():
    b = book()
    b.update(v(0, 0), "A", 1.0, v(10))
    assert b.update(v(1.5, 0), "A", 1.0, v(99)) == (0, "expand")  # 1 < d = 1.5 <= 2
    assert len(b) == 1 and b.epsilons.tolist() == [1.5]
    assert b.update(v(0.5, 0), "A", 1.0, v(99)) == (0, "inside")  # already covered: nothing changes
    assert b.epsilons.tolist() == [1.5] and b.values.tolist() == [[10.0]]


def test_conflicting_label_splits_both_radii_to_half_the_distance():
    b = book()
    b.update(v(0, 0), "A", 1.0, v(10))
    assert b.update(v(0, 1.2), "B", 1.0, v(20)) == (1, "split")
    assert b.epsilons.tolist() == pytest.approx([0.6, 0.6])
    assert torch.equal(b.keys, torch.stack([v(0, 0), v(0, 1.2)]))


def test_router_defers_inside_the_radius_of_the_nearest_key_only():
    b = book()
    b.update(v(0, 0), "A", 1.0, v(10))
    b.update(v(5, 0), "B", 1.0, v(20))
    idx, inside = b.route(torch.stack([v(0.9, 0), v(1.1, 0), v(4.2, 0), v(2.5, 0), v(0, 1.0)]))
    assert idx.tolist()[:3] == [0, 0, 1]
    assert inside.tolist() == [True, False, True, False, True]  # ||h - k|| <= ε, boundary included
    empty = book().route(v(0, 0)[None])
    assert empty[1].tolist() == [False]


def test_a_key_the_expand_rule_just_covers_stays_covered_in_a_large_batch():
    """The expand rule sets ε to the distance exactly, so the router must measure that distance as the rule
    did whatever the batch: with cdist's matrix-product path (used above 25 rows) keys of norm ~80 came out
    ~1e-3 further, the edit's own key fell outside its entry, and training its value had no gradient (seen
    at the 113th edit of a 1,000-edit lifelong run on world:medium)."""
    g = torch.Generator().manual_seed(0)
    misses = 0
    for cb, first, h, entry in _expanded(g):
        assert cb.epsilons[entry].item() == pytest.approx(torch.dist(h, first).item())
        batch = torch.cat([100 * torch.randn(63, 64, generator=g), h[None]])  # many rows, h last
        idx, inside = cb.route(batch)
        misses += int(not (idx[-1].item() == entry and bool(inside[-1])))
    assert misses == 0


def test_a_key_on_its_own_boundary_routes_to_its_entry_when_read_again_slightly_moved():
    """The expand rule sets ε to the distance exactly; a read in another batch moves the key by float32
    rounding, outward half of the time. Moved outward by 1e-6 of its norm, it still routes to its entry."""
    for cb, first, h, entry in _expanded(torch.Generator().manual_seed(0)):
        outward = (h - first) / (h - first).norm()
        moved = h + 1e-6 * h.norm() * outward
        assert torch.dist(moved, first).item() > cb.epsilons[entry].item()  # outside the radius itself
        idx, inside = cb.route(moved[None])
        assert idx.item() == entry and bool(inside)
        far = h + 0.05 * outward  # a real miss, well past float32 rounding: still outside
        assert not bool(cb.route(far[None])[1])


def _expanded(g: torch.Generator, n: int = 20):
    """`n` codebooks whose one entry the expand rule just stretched to a key h: (codebook, first key, h, entry)."""
    for _ in range(n):
        cb = Codebook(64, 4)
        first = 10 * torch.randn(64, generator=g)
        h = first + 4 * torch.randn(64, generator=g)
        cb.update(first, "Paris", 1.0, torch.zeros(4))
        entry, rule = cb.update(h, "Paris", 60.0, torch.zeros(4))
        assert rule == "expand"
        yield cb, first, h, entry


def test_state_round_trip_is_exact():
    b = book()
    b.update(v(0, 0), "A", 1.0, v(10))
    s = b.state()
    b.update(v(0, 1.2), "B", 1.0, v(20))
    b.load(s)
    assert len(b) == 1 and b.epsilons.tolist() == [1.0] and b.labels == ["A"]


def _logits(lm, text):
    ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return lm.model(input_ids=ids).logits


def test_restore_removes_the_adaptor_and_leaves_weights_bit_identical(tiny_lm):
    before = state_hash(tiny_lm.model)
    base = _logits(tiny_lm, "The capital of France is")
    m = get_method("grace", {"steps": 5, "lr": 0.5})
    h1 = m.apply(tiny_lm, [Edit("en", "Paris", "The capital of France is Paris and", "Berlin")])
    h2 = m.apply(tiny_lm, [Edit("zh", "巴黎", "巴黎是法国的", "首都")])
    assert len(active_adaptors(tiny_lm)) == 1 and h2.info["keys"] == 2  # one shared codebook
    assert state_hash(tiny_lm.model) == before  # a side memory: no weight is written
    book = active_adaptors(tiny_lm)[0].codebook
    entry = (book.key_dim + book.value_dim + 1) * 4  # a key, a value and a radius, in float32
    assert m.state_bytes(h2) == 2 * entry + len("Berlin") + len("首都".encode())  # labels: their UTF-8 bytes
    # the same edit again retrains entry 1's value in place (no new entry): undoing it gives back the codebook
    # exactly, from the handle's radii and that one value (a handle holds no copy of the codebook)
    after_h2 = [t.clone() for t in book.state()[:3]]
    h3 = m.apply(tiny_lm, [Edit("zh", "巴黎", "巴黎是法国的", "首都")])
    assert len(book) == 2 and not torch.equal(book.values[1], after_h2[1][1]) and list(h3.before.values) == [1]
    h3.restore()
    assert all(torch.equal(a, b) for a, b in zip(book.state()[:3], after_h2))
    h2.restore()
    assert len(active_adaptors(tiny_lm)[0].codebook) == 1 and m.state_bytes(h1) == entry + len("Berlin")
    h1.restore()
    assert active_adaptors(tiny_lm) == [] and state_hash(tiny_lm.model) == before
    assert torch.equal(_logits(tiny_lm, "The capital of France is"), base)


@pytest.fixture(scope="module")
def world():
    from helpers.requires import world_checkpoint

    from polyedit.data.registry import load_dataset
    from polyedit.models import load_model

    world_checkpoint("small")
    return load_model("world:small"), load_dataset("world:small:n=6").cases


def _answer(lm, prompt, n=6):
    from polyedit.models.backend import HFBackend

    return HFBackend(lm).generate([prompt], n, ())[0].text


def test_world_edits_are_generated_and_an_unrelated_prompt_keeps_its_answer(world):
    lm, cases = world
    before = state_hash(lm.model)
    local = next(p for p in cases[0].probes if p.kind == "locality" and p.lang == "en")
    local_before = _answer(lm, local.prompt)
    m = get_method("grace")
    handle = m.apply(lm, [c.edit for c in cases])  # one batch: edits go in one after another
    assert handle.info["keys"] == len(cases) and handle.info["rules"] == {"add": len(cases)}
    for c in cases:
        assert _answer(lm, c.edit.prompt).strip().startswith(c.edit.target_new), c.edit
    assert _answer(lm, local.prompt) == local_before
    handle.restore()
    assert state_hash(lm.model) == before and active_adaptors(lm) == []
    assert _answer(lm, local.prompt) == local_before
