"""``otel-llmcost``: the command line (built on click). Each subcommand lives in its own module."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import click

from ..version import __version__
from .advise import advise
from .check import check
from .demo import demo
from .digest import digest
from .estimate import estimate
from .prices import prices
from .reconcile import reconcile
from .report import report
from .stack import stack

# click >= 8.2 raises this (a UsageError) for a group called without a command; older click prints the help itself.
_NO_ARGS_IS_HELP: type[Exception] | None = getattr(click.exceptions, "NoArgsIsHelpError", None)


def _one_line(message: str) -> str:
    """An error message as one line: a parser's multi-line excerpt (YAML, JSON) must not spill over stderr."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


class Commands(click.Group):
    """A click group whose usage errors are one line on stderr (``Error: …``) and exit with code 2.

    A group run without a command (bare ``otel-llmcost``, ``otel-llmcost stack``) is a request for help,
    not a mistake: its help goes to stdout and the exit code is 0.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            if _NO_ARGS_IS_HELP is not None and isinstance(exc, _NO_ARGS_IS_HELP) and exc.ctx is not None:
                click.echo(exc.ctx.get_help(), color=exc.ctx.color)
                sys.exit(0)
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"Error: {_one_line(exc.format_message())}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="otel-llmcost")
def cli() -> None:
    """Tokens, prompt-cache use and USD cost of LLM SDK calls, as OpenTelemetry data.

    Start with `otel-llmcost demo`: no API key, no network.
    """
    # The instrumentation's warnings (an unknown model, once) are the commands' own output here: no stderr noise.
    package_logger = logging.getLogger("otel_llmcost")
    if not any(isinstance(h, logging.NullHandler) for h in package_logger.handlers):
        package_logger.addHandler(logging.NullHandler())


cli.add_command(demo)
cli.add_command(prices)
cli.add_command(estimate)
cli.add_command(report)
cli.add_command(check)
cli.add_command(reconcile)
cli.add_command(digest)
cli.add_command(advise)
cli.add_command(stack)


def main() -> None:
    cli()
