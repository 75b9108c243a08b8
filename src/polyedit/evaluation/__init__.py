"""Evaluation: protocols, the batched probe engine, aggregation and the bench runner.

Imports data, models and methods; reports and the CLI sit above it.
"""
