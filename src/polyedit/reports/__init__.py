"""Reports: Markdown tables of one run, and the multi-run report (HTML page and Markdown) of `polyedit report`.
Top layer besides the CLI."""
