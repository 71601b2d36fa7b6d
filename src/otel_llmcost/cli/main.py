"""``otel-llmcost``: the command line (built on click). Subcommands live in their own modules."""

from __future__ import annotations

import click

from ..version import __version__
from .demo import demo
from .stack import stack


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="otel-llmcost")
def cli() -> None:
    """Tokens, prompt-cache use and USD cost of LLM SDK calls, as OpenTelemetry data."""


cli.add_command(demo)
cli.add_command(stack)


def main() -> None:
    cli()
