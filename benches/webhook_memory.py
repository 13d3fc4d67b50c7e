#!/usr/bin/env python3
"""Peak RSS of the real webhook binary (release build) while it verifies and queues webhooks of
10 KB, 200 KB, 2 MB and 5 MB against the local stack (moto, cargo lambda watch --release).

    .venv/bin/python benches/webhook_memory.py      # figures go to docs/performance.md
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))
from stack import LocalStack, free_port  # noqa: E402


def webhook_pid() -> int:
    out = subprocess.run(["pgrep", "-f", "target/release/webhook$"], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    if not pids:
        raise SystemExit("webhook process not found")
    return pids[0]


def status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])  # kB
    raise KeyError(field)


def body(size: int, call_id: str) -> str:
    transcript = "User: Ich hätte gern einen Termin am Dienstag um halb drei.\n" * (size // 62 + 1)
    return json.dumps({"event": "call_ended", "call": {"call_id": call_id, "agent_id": "agent_demo",
                       "call_status": "ended", "transcript": transcript[: max(0, size - 200)]}})


def main() -> None:
    stack = LocalStack(free_port(), free_port(), state_dir=Path(tempfile.mkdtemp(prefix="retell-mem-")),
                       prefix="mem-", release=True)
    try:
        stack.start()
        warm = body(1000, "call_mem_warm")
        assert stack.post_webhook(warm, stack.sign(warm))[0] == 200
        pid = webhook_pid()
        print(f"after first request: VmRSS {status(pid, 'VmRSS')} kB, VmHWM {status(pid, 'VmHWM')} kB")
        for label, size in [("10KB", 10_000), ("200KB", 200_000), ("2MB", 2_000_000), ("5MB", 5_000_000)]:
            for i in range(5):
                b = body(size, f"call_mem_{label}_{i}")
                code, text = stack.post_webhook(b, stack.sign(b))
                assert code == 200, text
            print(f"after 5 x {label:>5}: VmRSS {status(pid, 'VmRSS')} kB, peak (VmHWM) {status(pid, 'VmHWM')} kB")
        time.sleep(0.5)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
