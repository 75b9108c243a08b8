"""Build sizes: the world, the model and the training budget of each built-in model.

The budget is set in epochs over the facts (memorisation is cliff-shaped in epochs: about 3 epochs near
chance, then above 90% a few epochs later) and turned into optimiser steps, which size the cosine
schedule; never in minutes, which depend on whoever else is using the cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from polyedit.errors import PolyeditError
from polyedit.world.world import WorldConfig


@dataclass(frozen=True)
class ModelSpec:
    """A Llama-architecture model (RMSNorm, rotary positions, SwiGLU), randomly initialised."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 352
    vocab_size: int = 4000
    max_positions: int = 256


@dataclass(frozen=True)
class TrainSpec:
    epochs: float = 12.0  # passes over the fact documents; in-context documents come on top
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: float = 0.03  # share of steps
    min_lr_ratio: float = 0.1  # cosine floor
    icl_ratio: float = 0.5  # in-context documents per fact document, drawn afresh every epoch
    icl_mix: dict = field(default_factory=lambda: {"ghost": 0.4, "counterfact": 0.35, "negative": 0.25})
    demo_share: float = 0.25  # in-context documents with one demonstration block before the query
    icl_english_fact_share: float = 0.7  # new facts stated in English (the MKEB/BMIKE edit language)


@dataclass(frozen=True)
class BuildConfig:
    size: str
    world: WorldConfig
    model: ModelSpec
    train: TrainSpec
    n_ghosts: int = 400  # names that exist only in in-context documents
    icl_eval_pairs: int = 48  # (person, relation) pairs kept out of in-context training, for evaluation

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> BuildConfig:
        return cls(d["size"], WorldConfig.from_dict(d["world"]), ModelSpec(**d["model"]), TrainSpec(**d["train"]),
                   d.get("n_ghosts", 400), d.get("icl_eval_pairs", 48))


SIZES = {
    # For tests of the build itself: runs end to end in well under 2 minutes on 2 cores; learns little.
    "tiny": BuildConfig("tiny", WorldConfig(n_persons=8), ModelSpec(64, 2, 2, 176, 1200, 192),
                        TrainSpec(epochs=1.0, icl_ratio=0.2), n_ghosts=40, icl_eval_pairs=4),
    # The default model, committed in the repository: trained in at most 30 minutes on 2 CPU cores.
    # Negatives are 40% of the in-context documents: with 25% the model copied the context into questions
    # about other facts 84% of the time, which breaks in-context editing's locality.
    "small": BuildConfig("small", WorldConfig(n_persons=40, transfer_fraction=0.12), ModelSpec(),
                         TrainSpec(epochs=36.0, icl_ratio=0.5, demo_share=0.1,
                                   icl_mix={"ghost": 0.35, "counterfact": 0.25, "negative": 0.4})),
    # The world to measure editing on (issue 17): with every base fact of a person an edit case, 360
    # persons give 1,335 cases per edit language (395 in the test split of 30% of the persons). A bigger
    # world needs fewer epochs: one epoch is 8.6x world:small's steps (1,763). The same model and the same
    # in-context mix as world:small; 512 positions so that IKE's 8-shot prompts (265-507 tokens) fit.
    "medium": BuildConfig("medium", WorldConfig(n_persons=360, transfer_fraction=0.05),
                          ModelSpec(128, 4, 4, 352, 4000, 512),
                          TrainSpec(epochs=5.0, icl_ratio=0.5, demo_share=0.1,
                                    icl_mix={"ghost": 0.35, "counterfact": 0.25, "negative": 0.4}),
                          n_ghosts=1200, icl_eval_pairs=96),
    # A larger world and model, for a GPU.
    "base": BuildConfig("base", WorldConfig(n_persons=400), ModelSpec(256, 6, 8, 704, 6000, 320),
                        TrainSpec(epochs=20.0, batch_size=128, lr=2e-3, icl_ratio=1.0), n_ghosts=1500,
                        icl_eval_pairs=96),
}


def build_config(size: str, seed: int | None = None, **train_overrides) -> BuildConfig:
    if size not in SIZES:
        raise PolyeditError(f"unknown world size {size!r} (known: {', '.join(SIZES)})")
    cfg = SIZES[size]
    if seed is not None:
        cfg = replace(cfg, world=replace(cfg.world, seed=seed))
    overrides = {k: v for k, v in train_overrides.items() if v is not None}
    return replace(cfg, train=replace(cfg.train, **overrides)) if overrides else cfg
