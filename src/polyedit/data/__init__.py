"""Data layer: languages, edit cases and datasets. Imports nothing from the layers above."""
