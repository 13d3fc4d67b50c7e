#!/usr/bin/env python3
"""The whole system on one machine: `make dev` runs this, the end-to-end tests import it.

  1. moto's server on 127.0.0.1:$LOCAL_AWS_PORT (DynamoDB, SQS, S3, Secrets Manager wire protocols),
     started by infra/local/aws_emulator.py so DynamoDB requests are isolated as in AWS
  2. the template's tables, queues, DLQs, bucket and secret (infra/local/bootstrap.py), with
     $RETELL_API_KEY stored as the Retell key
  3. `cargo lambda watch` on 127.0.0.1:$LOCAL_API_PORT serving every function, with the
     environment template.yaml gives it, pointed at the emulator
  4. local-pump: delivers SQS batches to the consumers like Lambda's event source mapping
  5. calcom-stub on 127.0.0.1:$LOCAL_CALCOM_PORT, the Cal.com calendar of the seeded company
     `salon-calcom` (infra/local/companies/calcom-demo.json)

Logs and state go to $LOCAL_STATE_DIR (default: a folder under the system temp dir), outside the
source tree that cargo lambda watches.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(HERE))

import boto3  # noqa: E402
from bootstrap import bootstrap  # noqa: E402

DEV_API_KEY = "key_local_dev_retell"  # documented in README.md; never a real key
DEV_CALCOM_KEY = "cal_test_local_stub"  # the local Cal.com stub's API key; never a real key
REGION = "eu-central-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on port {port} within {timeout}s")


class LocalStack:
    def __init__(self, aws_port: int, api_port: int, api_key: str = DEV_API_KEY,
                 state_dir: Path | None = None, prefix: str = "local-", pump_retry_secs: int = 2,
                 release: bool = False, calcom_port: int = 9411):
        self.aws_port, self.api_port, self.api_key = aws_port, api_port, api_key
        self.calcom_port = calcom_port
        self.state_dir = Path(state_dir or Path(tempfile.gettempdir()) / f"retell-backend-{api_port}")
        self.logs = self.state_dir / "logs"
        self.prefix = prefix
        self.pump_retry_secs = pump_retry_secs
        self.release = release
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.description: dict = {}
        self.companies = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def webhook_url(self) -> str:
        return f"{self.api}/lambda-url/webhook/api/retell/webhook"

    def aws_env(self) -> dict:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }

    def _spawn(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")
        full_env = {**os.environ, **self.aws_env(), "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
                    **(env or {})}
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def start(self, build_timeout: float = 1800) -> "LocalStack":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        moto = self._spawn("moto", [str(VENV_BIN / "python"), str(ROOT / "infra" / "local" / "aws_emulator.py"),
                                    "-H", "127.0.0.1", "-p", str(self.aws_port)])
        wait_for_port(self.aws_port, 30, moto, "moto_server")

        os.environ.update({k: v for k, v in self.aws_env().items() if k.startswith("AWS_") and "ENDPOINT" not in k})
        self.description = bootstrap(self.endpoint, self.prefix, {"RetellApiKey": self.api_key}, REGION)
        (self.state_dir / "stack.json").write_text(json.dumps(self.description, indent=1))
        env_lines = [f"{k}={v}" for k, v in self.aws_env().items()]
        merged: dict[str, str] = {}
        for fn in self.description["functions"].values():
            merged.update(fn["env"])
        env_lines += [f"{k}={v}" for k, v in sorted(merged.items())]
        env_file = self.state_dir / "lambda.env"
        env_file.write_text("\n".join(env_lines) + "\n")

        # Build once up front so the first webhook is not a compile; watch then rebuilds on edits.
        profile = ["--release"] if self.release else []
        build = subprocess.run(["cargo", "build", "--workspace", "--bins", *profile], cwd=ROOT,
                               stdout=open(self.logs / "build.log", "ab"), stderr=subprocess.STDOUT,
                               timeout=build_timeout)
        if build.returncode != 0:
            raise RuntimeError(f"cargo build failed; see {self.logs / 'build.log'}")

        stub = self._spawn("calcom-stub", [str(ROOT / "target" / "debug" / "calcom-stub"),
                                           "--port", str(self.calcom_port), "--api-key", DEV_CALCOM_KEY])
        wait_for_port(self.calcom_port, 30, stub, "calcom-stub")
        companies = self._local_companies()
        load = subprocess.run([str(ROOT / "target" / "debug" / "load-companies"), "--table",
                               self.description["resources"]["CompaniesTable"]["Ref"], *companies],
                              cwd=ROOT, env={**os.environ, **self.aws_env()}, capture_output=True, text=True)
        if load.returncode != 0:
            raise RuntimeError(f"loading companies failed: {load.stderr}")
        self.companies = load.stdout.strip()

        watch = self._spawn("functions", ["cargo", "lambda", "watch", "--invoke-address", "127.0.0.1",
                                          "--invoke-port", str(self.api_port), "--env-file", str(env_file),
                                          "--timeout", "60", *profile])
        wait_for_port(self.api_port, 120, watch, "cargo lambda watch")
        self._spawn("pump", [str(ROOT / "target" / "debug" / "local-pump"),
                             "--stack", str(self.state_dir / "stack.json"),
                             "--lambda", self.api, "--retry-after", str(self.pump_retry_secs)],
                    env={"RUST_LOG": "info"})
        return self

    @property
    def calcom_url(self) -> str:
        return f"http://127.0.0.1:{self.calcom_port}"

    def _local_companies(self) -> list[str]:
        """The company files, with Cal.com companies pointed at the local stub and their API key
        stored in the emulator's Secrets Manager (as an operator would store the real one)."""
        secrets = boto3.client("secretsmanager", endpoint_url=self.endpoint, region_name=REGION,
                               aws_access_key_id="test", aws_secret_access_key="test")
        out_dir = self.state_dir / "companies"
        out_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for path in sorted((HERE / "companies").glob("*.json")):
            settings = json.loads(path.read_text())
            calendar = settings.get("calendar", {})
            if calendar.get("type") == "calcom":
                name = f"{self.prefix}calcom/{settings['company_id']}"
                secret = json.dumps({"api_key": DEV_CALCOM_KEY})
                try:
                    secrets.create_secret(Name=name, SecretString=secret)
                except secrets.exceptions.ResourceExistsException:
                    secrets.put_secret_value(SecretId=name, SecretString=secret)
                calendar.update(base_url=self.calcom_url, api_key_secret=name)
            target = out_dir / path.name
            target.write_text(json.dumps(settings, ensure_ascii=False, indent=1))
            files.append(str(target))
        return files

    def exited(self) -> list[str]:
        return [name for name, p in self.procs if p.poll() is not None]

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _, proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()

    def sign(self, body: str) -> str:
        from retell.lib.webhook_auth import symmetric
        return symmetric["sign"](body, self.api_key, int(time.time() * 1000))

    def post_webhook(self, body: str, signature: str | None = None, timeout: float = 90) -> tuple[int, str]:
        headers = {"content-type": "application/json"}
        if signature is not None:
            headers["x-retell-signature"] = signature
        req = urllib.request.Request(self.webhook_url(), data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()


def main() -> int:
    aws_port = int(os.environ.get("LOCAL_AWS_PORT", "4566"))
    api_port = int(os.environ.get("LOCAL_API_PORT", "9000"))
    calcom_port = int(os.environ.get("LOCAL_CALCOM_PORT", "9411"))
    api_key = os.environ.get("RETELL_API_KEY") or DEV_API_KEY
    state = os.environ.get("LOCAL_STATE_DIR")
    stack = LocalStack(aws_port, api_port, api_key, Path(state) if state else None, calcom_port=calcom_port)
    stopping = False

    def on_signal(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"Starting the local stack (logs: {stack.logs}) ...", flush=True)
    try:
        stack.start()
    except Exception as err:  # noqa: BLE001 - report and clean up whatever failed
        print(f"local stack failed to start: {err}", file=sys.stderr)
        stack.stop()
        return 1

    d = stack.description
    res = d["resources"]
    body = json.dumps({"event": "call_started", "call": {
        "call_id": "call_local_demo", "agent_id": "agent_demo", "call_status": "ongoing",
        "direction": "inbound", "from_number": "+4917611112222", "to_number": "+493012345678",
        "start_timestamp": int(time.time() * 1000)}}, separators=(",", ":"))
    print(f"""
Local stack is up.

  Webhook (POST)     {stack.webhook_url()}
  Agent tools (POST) {stack.api}/lambda-url/<binary>/api/retell/functions/<name>
                     e.g. {stack.api}/lambda-url/check-availability/api/retell/functions/check_availability
  Companies          {stack.companies.replace(chr(10), chr(10) + " " * 21)}
  Lambda API         {stack.api}/2015-03-31/functions/<function>/invocations
  Functions          {", ".join(sorted(d["functions"]))}
  Cal.com stub       {stack.calcom_url}   (company salon-calcom books there; API key {DEV_CALCOM_KEY})
  AWS emulator       {stack.endpoint}   (AWS_ENDPOINT_URL; region {REGION}, any credentials)
  Calls table        {res["CallsTable"]["Ref"]}
  Stats table        {res["CallStatsTable"]["Ref"]}
  Events bucket      {res["EventsBucket"]["Ref"]}
  Queues             {", ".join(v["QueueName"] for k, v in res.items() if "QueueName" in v)}
  Retell key         {"$RETELL_API_KEY" if os.environ.get("RETELL_API_KEY") else DEV_API_KEY + " (dev default)"}
  Logs               {stack.logs}/{{moto,functions,pump,calcom-stub,build}}.log

Signed example request (signature valid for 5 minutes; `make sign BODY=...` makes new ones):

  curl -i -X POST '{stack.webhook_url()}' \\
    -H 'content-type: application/json' \\
    -H 'x-retell-signature: {stack.sign(body)}' \\
    --data '{body}'

Read it back:

  AWS_ENDPOINT_URL={stack.endpoint} .venv/bin/python -c "import boto3; print(boto3.client('dynamodb', region_name='{REGION}', aws_access_key_id='t', aws_secret_access_key='t').get_item(TableName='{res["CallsTable"]["Ref"]}', Key={{'call_id': {{'S': 'call_local_demo'}}}}).get('Item'))"

Ctrl-C stops everything.
""", flush=True)
    while not stopping:
        dead = stack.exited()
        if dead:
            print(f"stopped unexpectedly: {', '.join(dead)} (see {stack.logs})", file=sys.stderr)
            break
        time.sleep(0.5)
    print("Stopping ...", flush=True)
    stack.stop()
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
