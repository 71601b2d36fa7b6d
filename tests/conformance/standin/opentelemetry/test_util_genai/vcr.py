"""pytest plugin and helpers for their cassettes (``pytest_plugins = ["opentelemetry.test_util_genai.vcr"]``).

Their cassettes are replayed by vcrpy through pytest-vcr's ``vcr`` fixture (the stage runs with
``--vcr-record=none``: a request no cassette holds fails instead of reaching the network). What the suites need
from this module: a YAML serializer that reads the block-scalar bodies their cassettes are written with (plain
``yaml.load`` reads them; writing is only for recording, which the stage never does), the header scrubbers named
in their ``vcr_config``, and ``@pytest.mark.cassette("name")``, with which a test replays another test's cassette.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest
import yaml

Response = dict[str, Any]


class _YamlSerializer:
    """vcrpy's serializer interface, over PyYAML (full loader: the cassettes hold Python-tagged values)."""

    @staticmethod
    def serialize(cassette: Mapping[str, Any]) -> str:
        return str(yaml.dump(dict(cassette), default_flow_style=False, allow_unicode=True))

    @staticmethod
    def deserialize(text: str) -> Any:
        return yaml.load(text, Loader=yaml.Loader)


@pytest.fixture(scope="module", autouse=True)
def fixture_vcr(vcr: Any) -> Any:
    vcr.register_serializer("yaml", _YamlSerializer)
    return vcr


@pytest.fixture
def vcr_cassette_name(request: pytest.FixtureRequest) -> str:
    """pytest-vcr's name (the test's, prefixed by its class) unless ``@pytest.mark.cassette`` names another."""
    marker = request.node.get_closest_marker("cassette")
    if marker is not None and marker.args:
        return str(marker.args[0])
    cls = request.cls
    return f"{cls.__name__}.{request.node.name}" if cls else str(request.node.name)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cassette(name): replay the named cassette instead of the test's own")


def scrub_response_headers(headers: Iterable[str]) -> Callable[[Response], Response]:
    """A ``before_record_response`` hook removing the named headers (any case) from a recorded response."""
    drop = {header.lower() for header in headers}

    def scrub(response: Response) -> Response:
        recorded = response.get("headers")
        if isinstance(recorded, dict):
            for key in [key for key in recorded if key.lower() in drop]:
                del recorded[key]
        return response

    return scrub


def scrub_response_headers_overwrite(replacements: Mapping[str, str]) -> Callable[[Response], Response]:
    """A ``before_record_response`` hook setting the named headers to fixed values (an existing key keeps its case)."""

    def scrub(response: Response) -> Response:
        recorded = response.get("headers")
        if not isinstance(recorded, dict):
            return response
        present = {key.lower(): key for key in recorded}
        for name, value in replacements.items():
            recorded[present.get(name.lower(), name)] = value
        return response

    return scrub
