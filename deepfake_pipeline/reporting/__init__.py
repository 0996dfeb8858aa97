"""make_table.py: Markdown, LaTeX and CSV tables read from finished run folders, each cell traced."""
