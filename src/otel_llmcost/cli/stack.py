"""``otel-llmcost stack``: write the collector, Prometheus, Alertmanager, Tempo and Grafana files."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def stack() -> None:
    """The observability stack (collector, Prometheus, Grafana, Alertmanager) for otel-llmcost data."""


@stack.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Directory to write docker-compose.yaml, collector/, grafana/, prometheus/ and tempo/ into.")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="Limits file; default: OUT/llmcost-stack.yaml if there is one, else the built-in limits "
                   "(written there).")
def render(out: Path, config: Path | None) -> None:
    """Render every file from names.py and the limits file (overwrites the rendered files in OUT).

    A limits file that cannot be read or is invalid, and an OUT that cannot be written (inside a file, in
    /proc, read-only), are usage errors: one ``Error:`` line naming the option, exit code 2.
    """
    from ..errors import ConfigError
    from ..stack import write

    try:
        written = write(out, config)
    except ConfigError as exc:
        hint = "--config" if config is not None else None
        raise click.BadParameter(str(exc), param_hint=hint) if hint else click.UsageError(str(exc)) from None
    except OSError as exc:
        where = exc.filename if exc.filename is not None else out
        raise click.BadParameter(
            f"cannot write the stack files into {str(out)!r}: {where}: {exc.strerror or exc}. "
            "Fix: pass a directory you can write to.",
            param_hint="--out",
        ) from None
    for path in written:
        click.echo(str(path))
