"""Start-up cost of otel-llmcost: time and memory it adds to a process, with against without it installed.

"Without" is a copy of this virtualenv with otel-llmcost uninstalled (made once, by copying ``sys.prefix``
and running ``pip uninstall otel-llmcost`` in the copy; ``--without-venv`` names it, default
``.venv-bench-without`` beside this repo's ``.venv``): every other package, file and ``.pth`` is the same,
so the difference is what installing otel-llmcost costs, the launcher's discovery of its entry point
included. Each case runs in fresh processes, alternating with and without, median of ``--runs`` (10).
Wall time is what a user waits; CPU time (user + system of the child, from ``getrusage``) is also shown
because it is less skewed by other load on the machine. The launcher runs with its exporters set to
``none`` (no network; the exporters' cost is the same with and without us). Bytecode caches are written by
a first, unmeasured run and then used, as after a ``pip install`` (``PYTHONDONTWRITEBYTECODE`` is dropped).

Cases:
  import             ``import otel_llmcost`` inside a fresh process (time of that statement alone)
  launcher           ``opentelemetry-instrument python -c pass``
  launcher+sdks      ``opentelemetry-instrument python -c "import openai, anthropic"``
  rss                VmRSS of an app run by the launcher (metrics exporter: console, once at exit), after it
                     imported openai and anthropic, then after one call to each of 20 models through the real
                     SDK clients over ``httpx2.MockTransport``; and the first of those calls' latency. An app
                     that calls ``instrument()`` itself also loads opentelemetry-instrumentation (~2 MiB), which
                     the launcher has already loaded

``--source DIR`` runs the "with" side on another checkout's ``src`` (put first on PYTHONPATH), e.g. the
commit before a change, to compare. ``--instructions`` counts instructions with valgrind's callgrind for
the import and launcher cases instead (the launcher's child process, run directly with the PYTHONPATH the
launcher gives it, since callgrind cannot follow its exec cheaply).

Run: ``python benchmarks/startup.py [--runs 10] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OPENAI_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini", "gpt-5",
                 "gpt-5-mini", "gpt-5-nano")
ANTHROPIC_MODELS = ("claude-opus-4-1", "claude-opus-4-0", "claude-sonnet-4-0", "claude-sonnet-4-5",
                    "claude-3-7-sonnet-latest", "claude-3-5-haiku-latest", "claude-haiku-4-5", "claude-sonnet-4-6",
                    "claude-opus-4-5", "claude-3-haiku-20240307")
CASES = ("import", "launcher", "launcher+sdks", "rss")
QUIET = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}

IMPORT_CHILD = """
import time
start = time.perf_counter()
import otel_llmcost
print((time.perf_counter() - start) * 1000)
"""

# Runs under the launcher in both virtualenvs (with: the launcher instrumented it; the app never mentions us).
RSS_CHILD = """
import gc, json, time

def rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

import httpx2, openai, anthropic

gc.collect()
report = {"rss_instrumented": rss_mib()}

def handler(request):
    body = json.loads(request.content)
    if request.url.path.endswith("/messages"):
        return httpx2.Response(200, json={
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 1000, "output_tokens": 50},
        })
    return httpx2.Response(200, json={
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050},
    })

transport = httpx2.MockTransport(handler)
oai = openai.OpenAI(api_key="bench", http_client=httpx2.Client(transport=transport))
ant = anthropic.Anthropic(api_key="bench", http_client=httpx2.Client(transport=transport))
messages = [{"role": "user", "content": "Hi"}]
calls = [lambda m=m: oai.chat.completions.create(model=m, messages=messages) for m in OPENAI_MODELS]
calls += [lambda m=m: ant.messages.create(model=m, max_tokens=100, messages=messages) for m in ANTHROPIC_MODELS]
latencies = []
for call in calls:
    start = time.perf_counter()
    call()
    latencies.append((time.perf_counter() - start) * 1000)
gc.collect()
report["rss_calls"] = rss_mib()
report["first_call_ms"] = latencies[0]
report["later_call_ms"] = sorted(latencies[1:])[len(latencies[1:]) // 2]
print("REPORT", json.dumps(report))
""".replace("OPENAI_MODELS", repr(OPENAI_MODELS)).replace("ANTHROPIC_MODELS", repr(ANTHROPIC_MODELS))


def without_venv(path: Path) -> Path:
    """A copy of this virtualenv without otel-llmcost (made on first use)."""
    python = path / "bin" / "python"
    if python.exists():
        return path
    print(f"making {path}: a copy of {sys.prefix} without otel-llmcost ...", flush=True)
    shutil.copytree(sys.prefix, path, symlinks=True)
    subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "-q", "otel-llmcost"], check=True)
    found = subprocess.run([str(python), "-c", "import otel_llmcost"], capture_output=True, check=False)
    assert found.returncode != 0, f"{path} still imports otel_llmcost"
    return path


class Side:
    """One environment: a virtualenv's python and launcher, and the environment variables to run them with."""

    def __init__(self, venv: Path, source: Path | None = None) -> None:
        self.python = str(venv / "bin" / "python")
        self.launcher = str(venv / "bin" / "opentelemetry-instrument")
        # Bytecode caches written and used, as after a pip install (an editable install's src has none until then).
        drop = ("OTEL_", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        self.env.update(QUIET)
        if source is not None:
            self.env["PYTHONPATH"] = str(source)

    def launch(self, *command: str) -> list[str]:
        # The launcher script is run by this side's python (a copied virtualenv's scripts name the original).
        return [self.python, self.launcher, self.python, *command]

    def run(self, argv: list[str]) -> tuple[float, float, str]:
        """(wall ms, child CPU ms, stdout) of one fresh process."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, check=False, cwd=HERE)
        wall = (time.perf_counter() - start) * 1000
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{argv} failed:\n{done.stderr[-3000:]}")
        cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
        return wall, cpu, done.stdout


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def timed(sides: dict[str, Side], argv_of: Any, runs: int) -> dict[str, dict[str, Any]]:
    """Median wall and CPU ms of ``runs`` fresh processes per side, alternating sides (one warm-up each)."""
    samples: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in sides}
    for side in sides.values():
        side.run(argv_of(side))  # bytecode caches, page cache
    for _ in range(runs):
        for name, side in sides.items():
            wall, cpu, _ = side.run(argv_of(side))
            samples[name]["wall"].append(wall)
            samples[name]["cpu"].append(cpu)
    return {name: {**{k: median(v) for k, v in s.items()}, "samples": s} for name, s in samples.items()}  # type: ignore[dict-item]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    sides = {"with": Side(Path(sys.prefix), args.source), "without": Side(without_venv(args.without_venv))}
    results: dict[str, Any] = {}

    if "import" in args.only:
        with_ = sides["with"]
        imports = [float(with_.run([with_.python, "-c", IMPORT_CHILD])[2]) for _ in range(args.runs + 1)]
        results["import_ms"] = median(imports[1:])
    if "launcher" in args.only:
        results["launcher"] = timed(sides, lambda s: s.launch("-c", "pass"), args.runs)
    if "launcher+sdks" in args.only:
        results["launcher_sdks"] = timed(sides, lambda s: s.launch("-c", "import openai, anthropic"), args.runs)
    if "rss" not in args.only:
        return results

    rss: dict[str, list[dict[str, float]]] = {"with": [], "without": []}
    for side in sides.values():
        # Metrics kept in memory until exit (exported to the console once, at exit), spans dropped.
        side.env.update(OTEL_METRICS_EXPORTER="console", OTEL_METRIC_EXPORT_INTERVAL="600000")
    for side in sides.values():
        side.run(side.launch("-c", RSS_CHILD))  # warm-up: bytecode caches
    for _ in range(args.runs):
        for name, side in sides.items():
            out = side.run(side.launch("-c", RSS_CHILD))[2]
            rss[name].append(json.loads(next(x for x in out.splitlines() if x.startswith("REPORT "))[7:]))
    results["rss"] = {name: {k: median([r[k] for r in rows]) for k in rows[0]} for name, rows in rss.items()}
    return results


def table(results: dict[str, Any]) -> str:
    lines = [f"{'case':<44} {'with':>10} {'without':>10} {'added':>10}"]

    def row(label: str, with_: float, without: float, unit: str) -> None:
        lines.append(f"{label:<44} {with_:>8.1f}{unit} {without:>8.1f}{unit} {with_ - without:>+8.1f}{unit}")

    if "import_ms" in results:
        lines.append(f"{'import otel_llmcost (in process)':<44} {results['import_ms']:>8.1f}ms")
    for key, label in (("launcher", "opentelemetry-instrument python -c pass"),
                       ("launcher_sdks", "  ... -c 'import openai, anthropic'")):
        case = results.get(key)
        if case is None:
            continue
        row(f"{label} (wall)", case["with"]["wall"], case["without"]["wall"], "ms")
        row(f"{label} (CPU)", case["with"]["cpu"], case["without"]["cpu"], "ms")
    rss = results.get("rss")
    if rss is None:
        return "\n".join(lines)
    row("RSS after instrument(), both SDKs imported", rss["with"]["rss_instrumented"],
        rss["without"]["rss_instrumented"], "Mi")
    row("RSS after calls to 20 models", rss["with"]["rss_calls"], rss["without"]["rss_calls"], "Mi")
    row("first call (price data loads here)", rss["with"]["first_call_ms"], rss["without"]["first_call_ms"], "ms")
    row("later calls (median)", rss["with"]["later_call_ms"], rss["without"]["later_call_ms"], "ms")
    return "\n".join(lines)


def instructions(args: argparse.Namespace) -> dict[str, Any]:
    """Instructions executed by each case's Python process under callgrind, with and without."""
    import opentelemetry.instrumentation.auto_instrumentation as auto

    sites = {"with": Side(Path(sys.prefix), args.source), "without": Side(without_venv(args.without_venv))}
    sitecustomize = str(Path(auto.__file__).parent)
    cases = {
        "import otel_llmcost": (["-c", "import otel_llmcost"], ["-c", "pass"]),
        "launcher child, -c pass": (["-c", "pass"], ["-c", "pass"]),
        "launcher child, import openai, anthropic": (["-c", "import openai, anthropic"],) * 2,
    }
    results: dict[str, Any] = {}
    for label, (with_argv, without_argv) in cases.items():
        counts: dict[str, float] = {}
        for name, side in sites.items():
            env = dict(side.env)
            if label.startswith("launcher"):
                env["PYTHONPATH"] = os.pathsep.join(p for p in (sitecustomize, env.get("PYTHONPATH")) if p)
            argv = with_argv if name == "with" else without_argv
            with tempfile.TemporaryDirectory() as tmp:
                run = subprocess.run(
                    ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", side.python, *argv],
                    capture_output=True, text=True, check=True, env=env, cwd=HERE,
                )
            found = re.search(r"Collected : (\d+)", run.stderr)
            assert found, run.stderr[-2000:]
            counts[name] = int(found.group(1))
        results[label] = counts
        print(f"{label:<44} with {counts['with'] / 1e6:9.1f} M   without {counts['without'] / 1e6:9.1f} M   "
              f"added {(counts['with'] - counts['without']) / 1e6:+9.1f} M instructions", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--without-venv", type=Path, default=Path(sys.prefix).with_name(".venv-bench-without"))
    parser.add_argument("--source", type=Path, help="run the 'with' side on this src directory (PYTHONPATH)")
    parser.add_argument("--instructions", action="store_true", help="count instructions under valgrind/callgrind")
    parser.add_argument("--only", action="append", choices=CASES, help="cases to run (default: all)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args(argv)
    args.only = args.only or list(CASES)
    import anthropic
    import openai

    print(f"python {sys.version.split()[0]}, openai {openai.__version__}, anthropic {anthropic.__version__}; "
          f"median of {args.runs} fresh processes" + (f"; 'with' runs {args.source}" if args.source else ""))
    results = instructions(args) if args.instructions else measure(args)
    if not args.instructions:
        print(table(results))
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
