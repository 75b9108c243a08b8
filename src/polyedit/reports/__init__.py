"""Reports: Markdown tables and a self-contained HTML report from run summaries. Top layer besides the CLI."""
