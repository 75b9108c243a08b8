"""The knowledge world: a seeded synthetic world of people, organisations, cities and countries, stated in
the 12 MKEB languages, and the small multilingual models polyedit trains on it.

With the world known exactly, cross-lingual editing is measured exactly: every reliability, generality,
locality and portability answer follows from the world's facts (`cases.py`). Layers, lowest first:
`schema` (templates and names, data) -> `world` (entities and facts) -> `corpus` / `incontext` (training
text) -> `tokenizer`, `train`, `evaluate`, `build` (the model) -> `cases`, `export`, `dataset` (benchmarks).
"""

from polyedit.world.schema import LANGS
from polyedit.world.world import World, WorldConfig, generate_world

__all__ = ["LANGS", "World", "WorldConfig", "generate_world"]
