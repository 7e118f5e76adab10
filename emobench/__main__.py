"""``python -m emobench``: the command line, as ``torchrun ... -m emobench`` starts it."""

from emobench.cli import app

app(prog_name="emobench")
