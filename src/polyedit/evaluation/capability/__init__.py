"""Capability checks after editing, through lm-evaluation-harness (`polyedit bench --capability TASKS`).

An edit must change one fact and leave the model able to do everything else in every language. The checks
run lm-eval tasks in process on the model being edited (`harness.py`), before and after edits (`checks.py`),
and report the change per task and language with a paired bootstrap interval (`compare.py`). Two tasks ship
with polyedit and run offline on the knowledge-world models (`world_tasks.py`, `tasks/`): `world_knowledge`
(facts no edit of the run touches, multiple choice) and `world_fluency` (held-out world sentences, rolling
log-likelihood). lm-eval is the optional extra `polyedit[capability]`, imported only when a check is asked for.
"""
