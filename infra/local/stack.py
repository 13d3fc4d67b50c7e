#!/usr/bin/env python3
"""The whole system on one machine: `make dev` runs this, the end-to-end tests import it.

  1. moto's server on 127.0.0.1:$LOCAL_AWS_PORT (DynamoDB, SQS, S3, Secrets Manager wire protocols),
     started by infra/local/aws_emulator.py so DynamoDB requests are isolated as in AWS
  2. the template's tables, queues, DLQs, bucket and secret (infra/local/bootstrap.py), with
     $RETELL_API_KEY stored as the Retell key
  3. `cargo lambda watch` on 127.0.0.1:$LOCAL_LAMBDA_PORT serving every function (cargo-lambda
     1.9.2 with the fix of infra/local/install-cargo-lambda.sh, in .venv/cargo-lambda), with the
     environment template.yaml gives it, pointed at the emulator; like Lambda it runs
     simultaneous invocations of a function side by side, in up to $LOCAL_FUNCTION_CONCURRENCY
     processes (default 10; `--concurrency`: one more is started while every one is busy, and
     kept); a function process that exits is reported loudly and cargo lambda restarted (cargo
     lambda itself never restarts it)
  4. infra/local/function_gate.py on 127.0.0.1:$LOCAL_API_PORT, the front door: forwards to
     cargo lambda and gives each invocation $LOCAL_FUNCTION_TIMEOUT seconds (not cargo lambda's
     --timeout, which also cuts the connection an idle function waits on and kills it)
  5. local-pump: delivers SQS batches to the consumers like Lambda's event source mapping
  6. calcom-stub on 127.0.0.1:$LOCAL_CALCOM_PORT, the Cal.com calendar of the seeded company
     `salon-calcom` (infra/local/companies/calcom-demo.json)
  7. the Retell simulator on 127.0.0.1:$LOCAL_RETELL_PORT (infra/local/retell_sim/): Retell's
     API and its calls, seeded with the demo agents and numbers (infra/local/retell-seed.json);
     `retell-ops --local` then loads the companies, resets the demo agents to the default
     template and syncs agents, tools and numbers to this stack

Only $LOCAL_API_PORT has a fixed default (9000); every other port defaults to a free one, picked
when its server starts, so two stacks on different API ports (or `make dev` and `make test`)
never collide. Logs and state go to $LOCAL_STATE_DIR (default: a folder under the system temp
dir named after the API port), outside the source tree that cargo lambda watches.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
# cargo-lambda with its answers read whole (infra/local/install-cargo-lambda.sh; `make dev` builds it).
CARGO_LAMBDA = ROOT / ".venv" / "cargo-lambda" / "bin" / "cargo-lambda"
sys.path.insert(0, str(HERE))

import boto3  # noqa: E402
from bootstrap import bootstrap  # noqa: E402
from log_shipper import ship_logs  # noqa: E402

DEV_API_KEY = "key_local_dev_retell"  # documented in README.md; never a real key
DEV_CALCOM_KEY = "cal_test_local_stub"  # the local Cal.com stub's API key; never a real key
# The control center's demo logins (documented in README.md; local only, never real accounts).
DEMO_ADMIN, DEMO_ADMIN_PASSWORD = "admin@demo.example", "DemoAdmin-2026"
DEMO_STAFF, DEMO_STAFF_PASSWORD = "staff@demo.example", "DemoStaff-2026"
REGION = "eu-central-1"
SPAWNED = re.compile(r'spawning function instance function="([^"]+)"')  # cargo lambda's log line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def claim_port(port: int | None, setting: str) -> int:
    """`port` if it is free (else an error naming its setting), or a free port when None. Called
    just before the server binds it: a port picked long before could meanwhile become the local
    port of some outgoing connection."""
    if port is None:
        return free_port()
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as err:
            raise RuntimeError(f"port {port} ({setting}) is in use ({err.strerror}); "
                               f"set {setting} to another port or leave it unset for a free one") from None
    return port


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


def process_table() -> dict[int, tuple[int, list[str]]]:
    """pid -> (parent pid, argv) of every process (`ps`, so Linux and macOS alike)."""
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            table[int(parts[0])] = (int(parts[1]), parts[2].split() if len(parts) > 2 else [])
    return table


class LocalStack:
    """The local stack. Ports left None are free ones, picked as each server starts.

    function_timeout: seconds an invocation may take (Lambda's function timeout; 0 or None: no
    limit), applied by the function gate in front of cargo lambda, never to the long poll on which
    an idle function waits for its next event.
    reload: whether cargo lambda rebuilds and restarts the functions when a source file changes
    (benchmarks turn it off to measure the build they started with).
    function_concurrency: how many processes of one function may run invocations at once
    (Lambda's concurrent execution environments; `cargo lambda watch --concurrency`). cargo lambda
    starts one on a function's first invocation and another whenever invocations wait while every
    one is busy, up to this many, and keeps them; 1: one process, invocations take turns."""

    @classmethod
    def for_bench(cls, name: str, *, release: bool, api_key: str | None = None) -> "LocalStack":
        """A private stack for the bench `name`: its own state directory and resource prefix, the
        build it starts with measured (no reload), and its own Retell key."""
        return cls(api_key=api_key or f"key_bench_{name}",
                   state_dir=Path(tempfile.mkdtemp(prefix=f"retell-bench-{name}-")),
                   prefix=f"b{name[:2]}-", release=release, reload=False)

    def __init__(self, aws_port: int | None = None, api_port: int | None = None, api_key: str = DEV_API_KEY,
                 state_dir: Path | None = None, prefix: str = "local-", pump_retry_secs: int = 2,
                 release: bool = False, calcom_port: int | None = None, lambda_port: int | None = None,
                 function_timeout: float | None = 60, reload: bool = True, retell_port: int | None = None,
                 function_concurrency: int = 10, schedules: bool = True):
        self.aws_port, self.api_port, self.api_key = aws_port, api_port, api_key
        self.retell_port = retell_port
        self.calcom_port, self.lambda_port = calcom_port, lambda_port
        self.function_timeout = function_timeout or None
        self.reload = reload  # False: cargo lambda does not restart functions when a source file changes
        self.function_concurrency = max(1, function_concurrency)
        # The template's rate(...) schedules (the messaging sweep, reconcile), run by the pump as
        # EventBridge runs them; False for tests, which invoke those jobs themselves.
        self.schedules = schedules
        # The template's LogLevel parameter (LOG_LEVEL=DEBUG make dev), checked as CloudFormation would.
        self.log_level = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if self.log_level not in ("TRACE", "DEBUG", "INFO"):
            raise ValueError(f"LOG_LEVEL={self.log_level!r}: one of TRACE, DEBUG, INFO")
        # DebugFunctions is not offered locally: cargo lambda runs every function with one
        # environment (the env file below), so one level holds for all of them.
        self.state_dir = Path(state_dir or Path(tempfile.gettempdir()) / f"retell-backend-{api_port or os.getpid()}")
        self.logs = self.state_dir / "logs"
        self.prefix = prefix
        self.pump_retry_secs = pump_retry_secs
        self.release = release
        self.bin_dir = ROOT / "target" / ("release" if release else "debug")
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.description: dict = {}
        self.companies = ""
        self.env_file = self.state_dir / "lambda.env"
        # (time, function, what happened) for every function process found dead; see _supervise.
        self.function_deaths: list[tuple[float, str, str]] = []
        self._procs_lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._shipper: threading.Thread | None = None
        self.users: dict[str, tuple[str, str]] = {}
        self._functions_log_offset: int | None = None

    @property
    def stack_name(self) -> str:
        """The stack's name as `retell-ops` knows it (`local-` → `local`): Cal.com key secrets
        are named `<stack>/calcom/<company>`, as in AWS."""
        return self.prefix.rstrip("-") or "local"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def calcom_url(self) -> str:
        return f"http://127.0.0.1:{self.calcom_port}"

    @property
    def retell_url(self) -> str:
        return f"http://127.0.0.1:{self.retell_port}"

    def webhook_url(self) -> str:
        return f"{self.api}/lambda-url/webhook/api/retell/webhook"

    def inbound_url(self) -> str:
        return f"{self.api}/lambda-url/call-inbound/api/retell/inbound"

    def tool_url(self, tool: str) -> str:
        return f"{self.api}/lambda-url/{tool.replace('_', '-')}/api/retell/functions/{tool}"

    def ops(self, *args: str, check: bool = True) -> str:
        """Runs `retell-ops --local ARGS` against this stack; its stdout (an error if it fails)."""
        env = {**os.environ, "LOCAL_STATE_DIR": str(self.state_dir), "NO_COLOR": "1"}
        env.pop("RETELL_API_KEY", None)  # the key comes from the stack's secret, as in AWS
        done = subprocess.run([str(self.bin_dir / "retell-ops"), "--local", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        if check and done.returncode != 0:
            raise RuntimeError(f"retell-ops {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        return done.stdout.strip()

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
        with self._procs_lock:
            self.procs = [(n, p) for n, p in self.procs if n != name] + [(name, proc)]
        return proc

    def start(self, build_timeout: float = 1800) -> "LocalStack":
        if not os.access(CARGO_LAMBDA, os.X_OK):
            raise RuntimeError(f"{CARGO_LAMBDA} is missing: `make dev` (or `make {CARGO_LAMBDA.relative_to(ROOT)}`) "
                               "builds it once (infra/local/install-cargo-lambda.sh)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.aws_port = claim_port(self.aws_port, "LOCAL_AWS_PORT")
        moto = self._spawn("moto", [str(VENV_BIN / "python"), str(ROOT / "infra" / "local" / "aws_emulator.py"),
                                    "-H", "127.0.0.1", "-p", str(self.aws_port)])
        wait_for_port(self.aws_port, 30, moto, "moto_server")

        os.environ.update({k: v for k, v in self.aws_env().items() if k.startswith("AWS_") and "ENDPOINT" not in k})
        self.description = bootstrap(self.endpoint, self.prefix, {"RetellApiKey": self.api_key, "CopyRecordings": "true",
                                                                     "SenderDomain": "demo.example",
                                                                     "LogLevel": self.log_level}, REGION)
        (self.state_dir / "stack.json").write_text(json.dumps(self.description, indent=1))
        # The front door's port is needed now: the control center names the stack's URLs.
        self.api_port = claim_port(self.api_port, "LOCAL_API_PORT")
        self.retell_port = claim_port(self.retell_port, "LOCAL_RETELL_PORT")
        env_lines = [f"{k}={v}" for k, v in self.aws_env().items()]
        merged: dict[str, str] = {}
        for fn in self.description["functions"].values():
            merged.update(fn["env"])
        merged.update(self.local_env())
        env_lines += [f"{k}={env_value(v)}" for k, v in sorted(merged.items())]
        self.env_file.write_text("\n".join(env_lines) + "\n")
        self.users = self._create_users()

        # Build once up front so the first webhook is not a compile; watch then rebuilds on edits.
        # The functions are built as cargo lambda runs them (`--bin` each): cargo unifies
        # dependency features over the packages it selects, so a `--workspace` build (which
        # includes retell-ops and its CLI crates) would not be the build `cargo run --bin` wants.
        profile = ["--release"] if self.release else []
        functions = [a for fn in sorted(self.description["functions"]) for a in ("--bin", fn)]
        for what in (functions, ["-p", "local-pump", "-p", "calcom-stub", "-p", "retell-ops"]):
            build = subprocess.run(["cargo", "build", *what, *profile], cwd=ROOT,
                                   stdout=open(self.logs / "build.log", "ab"), stderr=subprocess.STDOUT,
                                   timeout=build_timeout)
            if build.returncode != 0:
                raise RuntimeError(f"cargo build failed; see {self.logs / 'build.log'}")

        self.calcom_port = claim_port(self.calcom_port, "LOCAL_CALCOM_PORT")
        stub = self._spawn("calcom-stub", [str(self.bin_dir / "calcom-stub"),
                                           "--port", str(self.calcom_port), "--api-key", DEV_CALCOM_KEY])
        wait_for_port(self.calcom_port, 30, stub, "calcom-stub")
        # The simulator is a package here in infra/local: `python -m retell_sim` with HERE on the path.
        sim_path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
        sim = self._spawn("retell-sim", [str(VENV_BIN / "python"), "-m", "retell_sim",
                                         "--port", str(self.retell_port), "--api-key", self.api_key,
                                         "--seed", str(HERE / "retell-seed.json")], env={"PYTHONPATH": sim_path})
        wait_for_port(self.retell_port, 30, sim, "Retell simulator")

        self.lambda_port = claim_port(self.lambda_port, "LOCAL_LAMBDA_PORT")
        self._start_functions()
        gate = self._spawn("gate", [str(VENV_BIN / "python"), str(HERE / "function_gate.py"),
                                    "--listen", str(self.api_port), "--upstream", str(self.lambda_port),
                                    "--timeout", str(self.function_timeout or 0)])
        wait_for_port(self.api_port, 30, gate, "function gate")
        self.description["endpoints"] = {
            "api": self.api, "aws": self.endpoint, "retell_url": self.retell_url,
            "webhook_url": self.webhook_url(), "inbound_url": self.inbound_url(),
            "tool_url_template": f"{self.api}/lambda-url/{{binary}}/api/retell/functions/{{name}}",
            "default_company_id": "default",
            "stack_name": self.stack_name,
            "recording_hosts": self.retell_url,
        }
        (self.state_dir / "stack.json").write_text(json.dumps(self.description, indent=1))
        self.companies = self.ops("companies", "load", *self._local_companies())
        # The simulated Retell account: the demo agents get the default template, then
        # everything is pointed at this stack, as an operator would after `sam deploy`.
        for agent in ("agent_demo", "agent_calcom_demo"):
            self.ops("agents", "reset", agent, "--yes", "--publish")
        self.ops("sync")
        self._spawn("pump", [str(self.bin_dir / "local-pump"),
                             "--stack", str(self.state_dir / "stack.json"),
                             "--lambda", self.api, "--retry-after", str(self.pump_retry_secs),
                             *([] if self.schedules else ["--no-schedules"])],
                    env={"RUST_LOG": "info"})
        self._supervisor = threading.Thread(target=self._supervise, name="function-supervisor", daemon=True)
        self._supervisor.start()
        # The functions' log lines and metrics into the emulator's CloudWatch, as Lambda ships them.
        groups = {name: fn["log_group"] for name, fn in self.description["functions"].items()}
        self._shipper = threading.Thread(target=ship_logs, name="log-shipper", daemon=True,
                                         args=(self.endpoint, REGION, groups, self.logs, self._stopping))
        self._shipper.start()
        return self

    def local_env(self) -> dict[str, str]:
        """What differs locally from template.yaml's environment: the simulator as Retell (and
        where recordings come from), the Cal.com stand-in on loopback, and the control center's
        view of the stack (URLs under the gate, Cognito in the emulator)."""
        pool = self.description["resources"]["ControlCenterUserPool"]["Ref"]
        return {
            "RETELL_BASE_URL": self.retell_url,
            "URL_PREFIX": "/lambda-url/control-center",
            "PUBLIC_BASE_URL": self.api,
            "WEBHOOK_URL": self.webhook_url(),
            "INBOUND_URL": self.inbound_url(),
            "TOOL_URL_TEMPLATE": f"{self.api}/lambda-url/{{binary}}/api/retell/functions/{{name}}",
            "COGNITO_ENDPOINT": self.endpoint,
            "COGNITO_JWKS_URL": f"{self.endpoint}/{pool}/.well-known/jwks.json",
            # Recordings come from the simulator, exactly its origin (in AWS: Retell's storage).
            "RECORDING_HOSTS": self.retell_url,
            # The Cal.com stand-in runs on 127.0.0.1 (in AWS a calendar is https on the internet).
            "CALENDAR_LOOPBACK": "allow",
        }

    def control_center_url(self) -> str:
        return f"{self.api}/lambda-url/control-center/admin/retell-control-center"

    def _create_users(self) -> dict[str, tuple[str, str]]:
        """The demo logins: an admin (group admins) and a staff member of company demo.
        role -> (user name, password); documented in README.md, never real accounts."""
        idp = boto3.client("cognito-idp", endpoint_url=self.endpoint, region_name=REGION,
                           aws_access_key_id="test", aws_secret_access_key="test")
        pool = self.description["resources"]["ControlCenterUserPool"]["Ref"]
        users = {"admin": (DEMO_ADMIN, DEMO_ADMIN_PASSWORD, None),
                 "staff": (DEMO_STAFF, DEMO_STAFF_PASSWORD, "demo")}
        for role, (name, password, company) in users.items():
            attrs = [{"Name": "email", "Value": name}, {"Name": "email_verified", "Value": "true"}]
            if company:
                attrs.append({"Name": "custom:company_id", "Value": company})
            try:
                idp.admin_create_user(UserPoolId=pool, Username=name, UserAttributes=attrs,
                                      MessageAction="SUPPRESS")
            except idp.exceptions.UsernameExistsException:
                pass
            idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=password, Permanent=True)
            if role == "admin":
                idp.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName="admins")
        return {role: (name, password) for role, (name, password, _) in users.items()}

    def _start_functions(self) -> None:
        """`cargo lambda watch` on the internal port. No --timeout: cargo lambda would apply it to
        the runtime API's long poll too (see function_gate.py); the gate times invocations.
        --concurrency: up to that many processes per function (cargo-lambda 1.9.2 gives each
        AWS_LAMBDA_MAX_CONCURRENCY=1, so each runs one invocation at a time, as on Lambda)."""
        options = (["--release"] if self.release else []) + ([] if self.reload else ["--ignore-changes"])
        options += ["--concurrency", str(self.function_concurrency)]
        log = self.logs / "functions.log"
        if self._functions_log_offset is None:  # the supervisor reads on from here (the file may be older)
            self._functions_log_offset = log.stat().st_size if log.exists() else 0
        watch = self._spawn("functions", [str(CARGO_LAMBDA), "lambda", "watch", "--invoke-address", "127.0.0.1",
                                          "--invoke-port", str(self.lambda_port),
                                          "--env-file", str(self.env_file), *options])
        wait_for_port(self.lambda_port, 120, watch, "cargo lambda watch")

    def _function_processes(self) -> dict[str, tuple[str, int]]:
        """function -> (state, instances) for every function cargo lambda watch runs: state
        "running" when one of its processes runs its binary, else "building" (`cargo run --bin`,
        before it execs the binary); instances: how many processes it runs (`--concurrency`),
        either kind."""
        with self._procs_lock:
            watch = next((p for n, p in self.procs if n == "functions"), None)
        if watch is None or watch.poll() is not None:
            return {}
        table = process_table()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        names = set(self.description.get("functions", {}))
        running: dict[str, set[int]] = {}
        building: dict[str, set[int]] = {}
        todo = list(children.get(watch.pid, []))
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            argv = table[pid][1]
            if not argv:
                continue
            if Path(argv[0]).name in names and "target" in Path(argv[0]).parts:
                running.setdefault(Path(argv[0]).name, set()).add(pid)
            elif "run" in argv and "--bin" in argv[:-1] and argv[argv.index("--bin") + 1] in names:
                building.setdefault(argv[argv.index("--bin") + 1], set()).add(pid)
        found: dict[str, tuple[str, int]] = {}
        for name in running.keys() | building.keys():
            binaries = running.get(name, set())
            # A `cargo run` that did not exec its binary (only on platforms without exec) is its parent.
            cargos = {pid for pid in building.get(name, set()) if not any(table[b][0] == pid for b in binaries)}
            found[name] = ("running" if binaries else "building", len(binaries) + len(cargos))
        return found

    def _supervise(self, interval: float = 1.0, grace: float = 2.0, min_restart_gap: float = 10.0) -> None:
        """Watches the function processes. cargo lambda starts a function on its first invocation
        and, should the process exit, leaves it dead (its requests then wait forever) until a source
        file changes. A function that exits is reported loudly and cargo lambda restarted, so the
        next invocation starts it afresh; one that did not build is reported only (cargo lambda
        builds it again when a source file is saved). Which functions cargo lambda started comes
        from its log ("spawning function instance"), so a process that dies before a look at the
        process table saw it is caught too. Under --concurrency a function may run several
        processes; one of them exiting while others run is not restarted (cargo lambda neither
        replaces it nor frees its place, so the function runs one process fewer until the next
        restart, but every invocation is still served): restarting cargo lambda watch would cut
        every function off for seconds."""
        started: set[str] = set()  # functions cargo lambda runs an instance of
        state: dict[str, str] = {}  # their process as last seen: "running" or "building"
        missing_since: dict[str, float] = {}
        # A process cargo lambda logged as spawning may take seconds to appear (its watcher starts
        # first, and under --concurrency many start at once): until one was seen, wait longer.
        spawn_grace = max(grace, 20.0)
        recent_log = ""
        last_restart = 0.0
        while not self._stopping.wait(interval):
            try:
                new_log = self._read_functions_log()
                now_running = self._function_processes()
            except Exception as err:  # noqa: BLE001 - a failed `ps` must not end supervision
                self._report(f"cannot list the function processes: {err}")
                continue
            recent_log = (recent_log + new_log)[-65536:]
            started.update(SPAWNED.findall(new_log), now_running)
            state.update({name: st for name, (st, _) in now_running.items()})
            crashed, unbuilt = [], []
            for name in sorted(started):
                if name in now_running:
                    missing_since.pop(name, None)
                    continue
                since = missing_since.setdefault(name, time.monotonic())
                if time.monotonic() - since < (grace if name in state else spawn_grace):
                    continue
                last = state.get(name) or ("building" if "could not compile" in recent_log else "running")
                (crashed if last == "running" else unbuilt).append(name)
                started.discard(name)
                state.pop(name, None)
                missing_since.pop(name, None)
            if self._stopping.is_set():
                return
            for name in unbuilt:
                self.function_deaths.append((time.time(), name, "did not build"))
            if unbuilt:
                self._report(f"function(s) {', '.join(unbuilt)} did not build: cargo lambda builds them "
                             f"again when you save a source file", self._last_words())
            if crashed:
                for name in crashed:
                    self.function_deaths.append((time.time(), name, "exited"))
                self._report(f"function(s) {', '.join(crashed)} exited; restarting cargo lambda watch "
                             "so the next invocation starts them again", self._last_words())
                self._stopping.wait(max(0.0, last_restart + min_restart_gap - time.monotonic()))
                if self._stopping.is_set():
                    return
                last_restart = time.monotonic()
                try:
                    self._restart_functions()
                    started.clear()
                    state.clear()
                    missing_since.clear()
                except Exception as err:  # noqa: BLE001 - say so; the console loop sees the dead process
                    self._report(f"restarting cargo lambda watch failed: {err}")

    def _read_functions_log(self) -> str:
        """What cargo lambda and the functions wrote since the last call (from its start on)."""
        path = self.logs / "functions.log"
        with open(path, "rb") as f:
            f.seek(self._functions_log_offset)
            data = f.read()
        self._functions_log_offset += len(data)
        return data.decode(errors="replace")

    def _restart_functions(self) -> None:
        with self._procs_lock:
            old = next((p for n, p in self.procs if n == "functions"), None)
            if old is not None:
                self._terminate(old)
                self.procs = [(n, p) for n, p in self.procs if p is not old]
        self._start_functions()

    def _last_words(self, lines: int = 6) -> str:
        """The last error lines of the functions' log (panics, errors, exits), without backtraces."""
        try:
            with open(self.logs / "functions.log", "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 32768))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        kept = [ln for ln in text.splitlines()[1:]
                if ln.strip() and not ln.lstrip()[:1].isdigit() and not ln.lstrip().startswith("at ")]
        picked = []
        for i, ln in enumerate(kept):
            if re.search(r"panicked|error|exited|killed", ln, re.IGNORECASE):
                picked.append(ln)
                if "panicked at" in ln and i + 1 < len(kept):
                    picked.append(kept[i + 1])  # the panic message
        return "\n".join(picked[-lines:]) or "(its log says nothing about it: killed from outside?)"

    def _report(self, message: str, details: str = "") -> None:
        stamp = time.strftime("%H:%M:%S")
        text = f"\n!!! {stamp} {message}\n"
        if details:
            text += "".join(f"!!!   {ln}\n" for ln in details.splitlines())
        text += f"!!!   (logs: {self.logs / 'functions.log'})\n"
        sys.stderr.write(text)
        sys.stderr.flush()
        with open(self.logs / "supervisor.log", "a") as log:
            log.write(text)

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
                name = f"{self.stack_name}/calcom/{settings['company_id']}"
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
        with self._procs_lock:
            return [name for name, p in self.procs if p.poll() is not None]

    @staticmethod
    def _terminate(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=30)
        with self._procs_lock:
            procs, self.procs = list(reversed(self.procs)), []
        for _, proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _, proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

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


def env_value(value: str) -> str:
    """A value as cargo lambda's env file reads it: quoted when dotenv would read into it
    (an = inside the value, braces, $, #, quotes, spaces)."""
    if re.search(r"[{}$#=\"' ]", value):
        if "'" in value:
            raise ValueError(f"cannot write {value!r} into the env file")
        return f"'{value}'"
    return value


def port_setting(name: str, default: int | None = None) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def main() -> int:
    api_port = port_setting("LOCAL_API_PORT", 9000)
    timeout = os.environ.get("LOCAL_FUNCTION_TIMEOUT", "").strip()
    concurrency = os.environ.get("LOCAL_FUNCTION_CONCURRENCY", "").strip()
    api_key = os.environ.get("RETELL_API_KEY") or DEV_API_KEY
    state = os.environ.get("LOCAL_STATE_DIR")
    stack = LocalStack(port_setting("LOCAL_AWS_PORT"), api_port, api_key, Path(state) if state else None,
                       calcom_port=port_setting("LOCAL_CALCOM_PORT"), lambda_port=port_setting("LOCAL_LAMBDA_PORT"),
                       retell_port=port_setting("LOCAL_RETELL_PORT"),
                       function_timeout=float(timeout) if timeout else 60,
                       function_concurrency=int(concurrency) if concurrency else 10)
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
    limit = (f"an invocation may take {stack.function_timeout:g} s" if stack.function_timeout
             else "no invocation time limit") + " (LOCAL_FUNCTION_TIMEOUT)"
    limit += (f"; up to {stack.function_concurrency} processes per function "
              "(LOCAL_FUNCTION_CONCURRENCY)")
    print(f"""
Local stack is up.

  Webhook (POST)     {stack.webhook_url()}
  Agent tools (POST) {stack.api}/lambda-url/<binary>/api/retell/functions/<name>
                     e.g. {stack.api}/lambda-url/check-availability/api/retell/functions/check_availability
  Companies          {stack.companies.replace(chr(10), chr(10) + " " * 21)}
  Lambda API         {stack.api}/2015-03-31/functions/<function>/invocations
  Functions          {", ".join(sorted(d["functions"]))}
                     (cargo lambda watch on port {stack.lambda_port} behind the gate; {limit})
  Cal.com stub       {stack.calcom_url}   (company salon-calcom books there; API key {DEV_CALCOM_KEY})
  Retell simulator   {stack.retell_url}   (Retell's API for `retell-ops --local` and the SDK's base_url;
                     POST /sim/calls plays a call: see infra/local/retell_sim/README.md)
  Control center     {stack.control_center_url()}
                     admin: {stack.users["admin"][0]} / {stack.users["admin"][1]}   (sees every company)
                     staff: {stack.users["staff"][0]} / {stack.users["staff"][1]}   (company demo)
  Admin API          {stack.api}/lambda-url/control-center/api/retell/status   (Authorization: Bearer <ID token>)
  Operator CLI       cargo run -q -p retell-ops -- --local test-connection
                     (LOCAL_STATE_DIR={stack.state_dir} when not started on port 9000)
  AWS emulator       {stack.endpoint}   (AWS_ENDPOINT_URL; region {REGION}, any credentials)
  Calls table        {res["CallsTable"]["Ref"]}
  Stats table        {res["CallStatsTable"]["Ref"]}
  Events bucket      {res["EventsBucket"]["Ref"]}
  Queues             {", ".join(v["QueueName"] for k, v in res.items() if "QueueName" in v)}
  Retell key         {"$RETELL_API_KEY" if os.environ.get("RETELL_API_KEY") else DEV_API_KEY + " (dev default)"}
  Logs               {stack.logs}/{{moto,functions,gate,pump,calcom-stub,retell-sim,build,supervisor}}.log

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
