"""The command line: `python -m retell_sim --port 0 --api-key KEY [--seed FILE] [--retry-delay S]
[--host H]` (infra/local on PYTHONPATH). Prints exactly one line to stdout,
`retell-sim listening on http://127.0.0.1:PORT`, logs to stderr, stops cleanly on SIGTERM / SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import RetellSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="retell_sim", description="Local stand-in for Retell AI's API "
                                     "(see infra/local/retell_sim/README.md).")
    parser.add_argument("--port", type=int, required=True, help="port to listen on; 0 picks a free one")
    parser.add_argument("--api-key", required=True, help="the account's API key (also signs webhooks)")
    parser.add_argument("--seed", help="JSON file with llms, agents, phone_numbers (and voices) to start with")
    parser.add_argument("--retry-delay", type=float, default=1.0, help="seconds between webhook attempts")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        sim = RetellSimulator(api_key=args.api_key, port=args.port, host=args.host, seed=args.seed,
                              retry_delay=args.retry_delay, async_log=True)
    except (OSError, ValueError) as err:
        print(f"retell-sim: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        sim.start()
    except OSError as err:
        print(f"retell-sim: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 2
    print(f"retell-sim listening on {sim.url}", flush=True)
    while not stop.wait(0.5):
        pass
    sim.log("stopping")
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
