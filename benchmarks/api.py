"""Prediction API speed: latency, throughput, batch scoring, and no lost rows.

    python benchmarks/api.py [--seconds 5] [--keep]

Starts two API servers on 127.0.0.1 with the demo model (one logging predictions to a
SQLite store, one with logging off, as the baseline), and drives them from a separate load
process: an asyncio HTTP/1.1 keep-alive client (uvloop when installed) that sends prepared
requests and reads every response, so it never abandons a request in flight and the 2xx
count is exact. It measures:

* single-row predict latency p50/p90/p99 at 1 client and at 16 concurrent clients;
* requests/s at 16 clients with logging on and with logging off;
* rows/s for 1,000-row batches (answered, and answered *and* written to the store);
* /healthz requests/s, the ceiling of the HTTP stack on this machine.

After the run the logging server is stopped with SIGTERM and the rows in its store are
compared with the rows it answered with 2xx: they must be equal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def logging_off_app() -> Any:
    """The baseline server: the same app with prediction logging switched off."""
    from driftscope.apps.api.main import create_app

    return create_app(prediction_logging=False)


# -- the load process ----------------------------------------------------------------------------
async def _client(
    host: str, port: int, request: bytes, deadline: float, max_requests: int, out: dict[str, Any]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    latencies = out["latencies"]
    statuses = out["statuses"]
    sent = 0
    try:
        while sent < max_requests and time.perf_counter() < deadline:
            started = time.perf_counter_ns()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter_ns() - started)
            statuses[status] = statuses.get(status, 0) + 1
            sent += 1
    finally:
        writer.close()


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    body = spec["body"].encode()
    request = (
        f"{spec['method']} {spec['path']} HTTP/1.1\r\nHost: {spec['host']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    if spec["method"] == "GET":
        request = f"GET {spec['path']} HTTP/1.1\r\nHost: {spec['host']}\r\n\r\n".encode()
    out: dict[str, Any] = {"latencies": [], "statuses": {}}
    started = time.perf_counter()
    deadline = started + spec["seconds"]
    per_client = spec.get("max_requests", 10**9)
    await asyncio.gather(
        *(
            _client(spec["host"], spec["port"], request, deadline, per_client, out)
            for _ in range(spec["clients"])
        )
    )
    elapsed = time.perf_counter() - started
    latencies = sorted(out["latencies"])

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] / 1e6

    return {
        "requests": len(latencies),
        "elapsed": elapsed,
        "rps": len(latencies) / elapsed,
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "ok": sum(n for s, n in out["statuses"].items() if 200 <= int(s) < 300),
        "statuses": {str(k): v for k, v in out["statuses"].items()},
    }


def load_worker() -> None:
    """Entry point of the load process: a JSON spec on stdin, JSON results on stdout."""
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_load(spec))))


def run_load(port: int, method: str, path: str, body: str, clients: int, seconds: float) -> dict:
    """Run one load phase in a separate process and return its results."""
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "method": method,
        "path": path,
        "body": body,
        "clients": clients,
        "seconds": seconds,
    }
    done = subprocess.run(
        [sys.executable, __file__, "--load-worker"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    return json.loads(done.stdout)


# -- servers -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(factory: str, config: Path, log: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {
        **os.environ,
        "DRIFTSCOPE_CONFIG": str(config),
        "DRIFTSCOPE_SCHEDULER": "false",
        "PYTHONPATH": str(REPO / "benchmarks"),
    }
    env.pop("DRIFTSCOPE_API_KEY", None)
    env.pop("DRIFTSCOPE_STORE_URL", None)
    handle = open(log, "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=handle,
        stderr=handle,
    )
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server {factory} exited; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server {factory} did not become ready; see {log}")


def stop_server(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(120)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def cpu_seconds(process: subprocess.Popen) -> float:
    """User + system CPU time of a server process so far (Linux /proc), all threads."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured_load(process: subprocess.Popen, port: int, *load: Any) -> dict[str, Any]:
    """Run a load phase and add the server's CPU time per request to its results."""
    before = cpu_seconds(process)
    result = run_load(port, *load)
    result["cpu_us"] = (cpu_seconds(process) - before) / max(result["requests"], 1) * 1e6
    return result


def queue_depth(port: int) -> float:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("driftscope_log_queue_depth "):
            return float(line.split()[1])
    return 0.0


# -- the benchmark ---------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="Length of each phase.")
    parser.add_argument("--keep", action="store_true", help="Keep the working folder.")
    args = parser.parse_args()

    from support.api_helpers import count_rows, demo_rows, make_demo_config

    work = Path(tempfile.mkdtemp(prefix="driftscope-bench-api-"))
    store_url = f"sqlite:///{work / 'driftscope.db'}"
    config_on = make_demo_config(work, store_url, name="on.yaml")
    config_off = make_demo_config(
        work, f"sqlite:///{work / 'baseline.db'}", name="off.yaml", model_folder=work
    )
    rows = demo_rows(work, 1000)
    single = json.dumps({"features": rows[0]})
    batch = json.dumps({"rows": rows})
    path = "/v1/models/cancer/predict"
    seconds = args.seconds

    load_before = os.getloadavg()[0]
    print(f"starting servers (work folder {work}) ...", flush=True)
    on, on_port = start_server("driftscope.apps.api.main:create_app", config_on, work / "on.log")
    off, off_port = start_server("api:logging_off_app", config_off, work / "off.log")
    answered_rows = 0
    results: dict[str, dict[str, Any]] = {}
    try:
        # warm-up: imports, first predictions, connection set-up
        for port in (on_port, off_port):
            warm = run_load(port, "POST", path, single, 4, 1.0)
            if port == on_port:
                answered_rows += warm["ok"]

        print("1 client, logging on ...", flush=True)
        results["one"] = run_load(on_port, "POST", path, single, 1, seconds)
        answered_rows += results["one"]["ok"]
        print("1 client, logging off ...", flush=True)
        results["one_off"] = run_load(off_port, "POST", path, single, 1, seconds)

        # two rounds in opposite orders, keeping each server's better run: less noise from
        # whatever else the machine is doing
        for round_ in range(2):
            print(f"16 clients, logging on/off (round {round_ + 1}) ...", flush=True)
            if round_ == 0:
                on16 = measured_load(on, on_port, "POST", path, single, 16, seconds)
                off16 = measured_load(off, off_port, "POST", path, single, 16, seconds)
            else:
                off16 = measured_load(off, off_port, "POST", path, single, 16, seconds)
                on16 = measured_load(on, on_port, "POST", path, single, 16, seconds)
            answered_rows += on16["ok"]
            if on16["rps"] > results.get("on16", {"rps": 0})["rps"]:
                results["on16"] = on16
            if off16["rps"] > results.get("off16", {"rps": 0})["rps"]:
                results["off16"] = off16

        print("1,000-row batches, logging on ...", flush=True)
        started = time.perf_counter()
        results["batch"] = run_load(on_port, "POST", path, batch, 4, seconds)
        answered_rows += results["batch"]["ok"] * 1000
        while queue_depth(on_port) > 0:
            time.sleep(0.01)
        results["batch"]["written_rps"] = (
            results["batch"]["ok"] * 1000 / (time.perf_counter() - started)
        )

        print("/healthz ceiling ...", flush=True)
        results["health"] = run_load(on_port, "GET", "/healthz", "", 16, seconds)
    finally:
        code_on = stop_server(on)
        stop_server(off)
    stored, _ = count_rows(store_url)

    one, one_off, on16, off16, b, health = (
        results["one"],
        results["one_off"],
        results["on16"],
        results["off16"],
        results["batch"],
        results["health"],
    )
    ratio = on16["rps"] / off16["rps"]
    table = [
        ("1 client, logging on: p50", f"{one['p50']:.2f} ms", "< 2 ms", one["p50"] < 2),
        ("1 client, logging on: p90", f"{one['p90']:.2f} ms", "", None),
        ("1 client, logging on: p99", f"{one['p99']:.2f} ms", "< 5 ms", one["p99"] < 5),
        ("1 client, logging on: requests/s", f"{one['rps']:.0f}", "", None),
        (
            "1 client, logging off: p50 / p90 / p99",
            f"{one_off['p50']:.2f} / {one_off['p90']:.2f} / {one_off['p99']:.2f} ms",
            "",
            None,
        ),
        ("16 clients, logging on: p50", f"{on16['p50']:.2f} ms", "", None),
        ("16 clients, logging on: p90", f"{on16['p90']:.2f} ms", "", None),
        (
            "16 clients, logging on: p99",
            f"{on16['p99']:.2f} ms",
            f"< 3 x p50 = {3 * on16['p50']:.2f} ms",
            on16["p99"] < 3 * on16["p50"],
        ),
        ("16 clients, logging on: requests/s", f"{on16['rps']:.0f}", "", None),
        ("16 clients, logging off: requests/s", f"{off16['rps']:.0f}", "", None),
        (
            "16 clients, logging off: p50 / p99",
            f"{off16['p50']:.2f} / {off16['p99']:.2f} ms",
            "",
            None,
        ),
        ("logging on / logging off throughput", f"{ratio:.1%}", ">= 90%", ratio >= 0.9),
        (
            "server CPU per request, logging on / off",
            f"{on16['cpu_us']:.0f} / {off16['cpu_us']:.0f} us",
            f"(off/on = {off16['cpu_us'] / on16['cpu_us']:.1%})",
            None,
        ),
        (
            "1,000-row batches, 4 clients: rows/s answered",
            f"{b['ok'] * 1000 / b['elapsed']:.0f}",
            "",
            None,
        ),
        (
            "1,000-row batches: rows/s answered and written",
            f"{b['written_rps']:.0f}",
            ">= 20,000",
            b["written_rps"] >= 20_000,
        ),
        ("1,000-row batch latency p50 / p99", f"{b['p50']:.1f} / {b['p99']:.1f} ms", "", None),
        ("/healthz, 16 clients: requests/s (ceiling)", f"{health['rps']:.0f}", "", None),
        ("rows answered 2xx (logging server)", f"{answered_rows}", "", None),
        (
            "rows in the store after SIGTERM",
            f"{stored}",
            "= rows answered",
            stored == answered_rows,
        ),
    ]
    width = max(len(r[0]) for r in table)
    print()
    print(f"{'measure':<{width}}  {'measured':>16}  {'target':<24} result")
    print("-" * (width + 52))
    for name, measured, target, passed in table:
        verdict = "" if passed is None else ("ok" if passed else "MISSED")
        print(f"{name:<{width}}  {measured:>16}  {target:<24} {verdict}")
    non_2xx = {
        k: v
        for phase in results.values()
        for k, v in phase["statuses"].items()
        if not k.startswith("2")
    }
    print(f"\nnon-2xx answers: {non_2xx or 'none'}; logging server exit code {code_on}")
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, phases of {seconds:g} s, "
        f"load average before {load_before:.1f}, after {os.getloadavg()[0]:.1f}"
    )
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if "--load-worker" in sys.argv:
        load_worker()
    else:
        main()
