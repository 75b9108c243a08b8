"""What the tests share, in one package: inputs from outside the repository (`requires`), tiny models of every
family (`tiny_models`), the cheap settings of every method (`fast`), the model's weights as one hash and the
teacher-forced pass check (`weights`), run folders without provenance (`run_files`), the data and sweep files
the tests build (`builders`), a headless browser (`browser`) and the tune search's fake bench (`tune_fakes`).
`tests/conftest.py` puts `tests/` on the path, so a test imports `from helpers.fast import fast`."""
