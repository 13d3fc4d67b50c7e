"""Starts the same local stack as `make dev` (on free ports, private names) for the e2e tests, with
a short function timeout (LOCAL_FUNCTION_TIMEOUT) so a test can idle past it quickly."""

import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "local"))

from stack import LocalStack  # noqa: E402

# Long enough for any invocation of these tests (a cold start included, while other functions'
# first processes start beside it: with the messaging function answering every booking's notice,
# 8 s was exceeded once on two cores), short enough to idle past.
FUNCTION_TIMEOUT_SECS = 15


@pytest.fixture(scope="session")
def stack():
    state = Path(tempfile.mkdtemp(prefix="retell-e2e-"))
    s = LocalStack(api_key="key_e2e_test", state_dir=state, prefix="e2e-", pump_retry_secs=1,
                   function_timeout=FUNCTION_TIMEOUT_SECS, reload=False,  # the build it started with
                   schedules=False)  # a test runs a scheduled job itself, when it means to
    try:
        s.start()
        yield s
    finally:
        s.stop()
        for log in sorted((state / "logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- {log.name} (last lines)\n" + "\n".join(tail))
