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
    """Render every file from names.py and the limits file (overwrites the rendered files in OUT)."""
    from ..errors import ConfigError
    from ..stack import write

    try:
        written = write(out, config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(str(path))
