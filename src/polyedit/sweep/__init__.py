"""Sweeps: a grid of `bench` runs (models x methods x datasets x modes), run here or on a Ray cluster."""

from polyedit.sweep.spec import Cell, Sweep, load_sweep, parse_sweep

__all__ = ["Cell", "Sweep", "load_sweep", "parse_sweep"]
