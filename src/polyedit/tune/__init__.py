"""`polyedit tune`: an equal-budget, multi-objective hyperparameter search on the dev split (Optuna), and the
chosen configuration's evaluation on the test split, for fair comparisons between methods."""
