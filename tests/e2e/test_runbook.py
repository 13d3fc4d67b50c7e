"""The runbook (docs/runbook.md) rehearsed against the local stack.

Every `retell-ops` line of its fenced code blocks is run, in the runbook's order, as an operator
would paste it: `--stack $STACK` becomes `--local`, and the runbook's variables ($CALL_ID,
$COMPANY, $MESSAGE_ID, $BACKUP, …; each defined by an `export` line in "Set these first") are
filled with real values of the stack, each made the first time a command needs it (see
`Values`). A command must exit 0, unless a trailing comment says otherwise:
`# exits 1 while something is paused` expects 1, `# exits 0 or 1: …` accepts either. A `--follow`
command never ends by itself: it runs FOLLOW_SECONDS and is then killed, as an operator stops it
with Ctrl-C; being killed is its expected outcome (ending before that, with any code, fails).
A block line that mentions retell-ops but is not such a command fails the test: nothing in the
runbook goes unrun. Every control-center page the runbook names (`$CC/…`) must answer an admin
with 200, and be a route of the control center.

The rehearsal starts from a healthy stack: dead letters that earlier tests of the session left
are deleted and the wiring synced first; whatever it pauses is resumed at the end, even when it
fails.

Runnable alone (starts the whole local stack): .venv/bin/python -m pytest tests/e2e/test_runbook.py -x -q
The tests that need no stack (they read the runbook, the routes, the template) run in a second:
.venv/bin/python -m pytest tests/e2e/test_runbook.py -q -k "not every"
"""

from __future__ import annotations

import datetime
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
ROUTES = ROOT / "functions" / "control-center" / "src" / "lib.rs"
TEMPLATE = ROOT / "template.yaml"

# How long a `--follow` command runs before it is killed (its expected end).
FOLLOW_SECONDS = 6
# Any other command: at most this long (a backup of every table, a simulated call's wait).
COMMAND_TIMEOUT = 600

VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}|\$([A-Z][A-Z0-9_]*)")
EXITS = re.compile(r"#\s*exits\s+(\d+(?:\s*(?:,|or)\s*\d+)*)(?=$|[\s:;,.(])")
PAGE = re.compile(r"\$CC(?![A-Za-z0-9_])((?:/|\?)[^\s`'\"<>()\[\]|]*)?")
ALARM = re.compile(r"\b([A-Z][A-Za-z0-9]*Alarm)\b")


# --- reading the runbook ------------------------------------------------------------------------

@dataclass
class Command:
    line: int  # 1-based line in the runbook
    text: str  # as written (continuation lines joined)
    tokens: list[str]  # shell words, comment removed, variables not yet filled
    expect: frozenset[int] | None  # exit codes accepted; None: a --follow, killed after FOLLOW_SECONDS
    comment: str = ""

    @property
    def follows(self) -> bool:
        return "--follow" in self.tokens

    def variables(self) -> list[str]:
        return [a or b for t in self.tokens for a, b in VARIABLE.findall(t)]


def split_comment(line: str) -> tuple[str, str]:
    """The shell code of a line and its trailing `# …` comment (a `#` outside quotes that starts a
    word, as bash reads it)."""
    quote, i = None, 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and quote != "'":
            i += 2  # an escaped character, in double quotes or none
            continue
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i:]
        i += 1
    return line.rstrip(), ""


def fenced_blocks(text: str) -> list[tuple[int, list[str]]]:
    """Each fenced code block: (line number of its first line, its lines)."""
    blocks, current, start = [], None, 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            if current is None:
                current, start = [], number + 1
            else:
                blocks.append((start, current))
                current = None
        elif current is not None:
            current.append(line)
    assert current is None, f"runbook: the code block from line {start} is never closed"
    return blocks


def expected_codes(comment: str, where: str) -> frozenset[int]:
    """`# exits 1 …` → {1}; `# exits 0 or 1: …` → {0, 1}; no such comment → {0}."""
    if "exit" not in comment:
        return frozenset({0})
    found = EXITS.search(comment)
    assert found, f"{where}: a comment about exit codes must read `# exits N …` or `# exits N or M …`: {comment!r}"
    return frozenset(int(n) for n in re.findall(r"\d+", found.group(1)))


def runbook_commands(text: str) -> list[Command]:
    """Every `retell-ops` command of the runbook's code blocks, in order. A block line that
    mentions retell-ops but is no command fails: the test would not run it."""
    commands = []
    for start, lines in fenced_blocks(text):
        i = 0
        while i < len(lines):
            number, raw = start + i, lines[i]
            # A command continued with `\` on the next lines is one command.
            while raw.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                raw = raw.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
            where = f"runbook line {number}"
            if "retell-ops" not in raw:
                continue
            assert raw.lstrip().startswith("retell-ops "), (
                f"{where}: a line that mentions retell-ops must be a command starting with it "
                f"(the test runs every one; put anything else in the prose): {raw.strip()!r}")
            code, comment = split_comment(raw.strip())
            tokens = shlex.split(code)
            command = Command(number, raw.strip(), tokens, None, comment)
            if command.follows:
                assert "exit" not in comment, f"{where}: a --follow command never exits; its end is Ctrl-C"
            else:
                command.expect = expected_codes(comment, where)
            commands.append(command)
    return commands


def defined_variables(text: str) -> set[str]:
    """The variables the runbook tells the operator to set (`export NAME=` in its code blocks)."""
    names = set()
    for _, lines in fenced_blocks(text):
        for line in lines:
            m = re.match(r"\s*export\s+([A-Z][A-Z0-9_]*)=", line)
            if m:
                names.add(m.group(1))
    return names


def runbook_pages(text: str) -> list[str]:
    """Every control-center page the runbook names: what follows `$CC` ("" is the overview)."""
    pages = []
    for m in PAGE.finditer(text):
        rest = (m.group(1) or "").rstrip(".,;:")
        if rest not in pages:
            pages.append(rest)
    return pages


def control_center_routes() -> list[re.Pattern]:
    """The control center's routes (functions/control-center/src/lib.rs), `{param}` as a segment."""
    source = ROUTES.read_text()
    routes = re.findall(r'\.route\(\s*"([^"]+)"', source)
    assert routes, f"no routes found in {ROUTES}"
    return [re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(r))) for r in routes]


# --- the runbook's variables, made from the stack -----------------------------------------------

def mobile() -> str:
    """A German mobile number no other test uses."""
    return f"+49151{random.randrange(10 ** 8):08d}"


def days_of(entries) -> set[str]:
    """The dates a list of closures or absences covers: "2026-12-24" or {"from": …, "to": …}."""
    days = set()
    for entry in entries or []:
        if isinstance(entry, str):
            days.add(entry)
        elif isinstance(entry, dict):
            first = entry.get("from") or entry.get("date") or entry.get("day")
            last = entry.get("to") or first
            try:
                d, end = datetime.date.fromisoformat(first), datetime.date.fromisoformat(last)
            except (TypeError, ValueError):
                continue
            while d <= end:
                days.add(d.isoformat())
                d += datetime.timedelta(days=1)
    return days


class Values:
    """The runbook's variables for this stack, each made the first time a command (or a page)
    needs it, by the method `make_<name>`: a variable the runbook uses and this class cannot make
    fails the test (add a maker)."""

    def __init__(self, stack, workdir: Path):
        self.stack, self.workdir = stack, workdir
        self.known: dict[str, str] = {}
        self.res = stack.description["resources"]

    @staticmethod
    def can_make(name: str) -> bool:
        return name == "STACK" or hasattr(Values, f"make_{name.lower()}")

    def __getitem__(self, name: str) -> str:
        if name not in self.known:
            assert self.can_make(name) and name != "STACK", f"the test cannot fill ${name}: add Values.make_{name.lower()}"
            self.known[name] = getattr(self, f"make_{name.lower()}")()
        return self.known[name]

    def fill(self, text: str, quote=lambda v: v) -> str:
        return VARIABLE.sub(lambda m: quote(self[m.group(1) or m.group(2)]), text)

    # How retell-ops is run: as an operator runs it, in a folder of its own (files the runbook
    # writes, `companies/<company>.json` it loads), with the stack's key from its secret.
    def run(self, argv: list[str], timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
        env = {**os.environ, "LOCAL_STATE_DIR": str(self.stack.state_dir), "NO_COLOR": "1"}
        env.pop("RETELL_API_KEY", None)
        return subprocess.run([str(self.stack.bin_dir / "retell-ops"), *argv], cwd=self.workdir, env=env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def run_json(self, *args: str) -> dict:
        done = self.run(["--local", "--json", *args])
        assert done.returncode == 0, f"retell-ops {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout)

    def aws(self, service: str):
        from test_local_stack import aws
        return aws(self.stack, service)

    def make_cc(self) -> str:
        return self.stack.control_center_url()

    def make_company(self) -> str:
        return "demo"  # infra/local/companies/demo.json: agent_demo, staff Anna, Ben, Clara

    def make_agent_id(self) -> str:
        return "agent_demo"

    def make_staff(self) -> str:
        return "Anna"

    def make_test_phone(self) -> str:
        return mobile()

    def make_call_id(self) -> str:
        """A whole appointment call played through the stack (simulate-call), stored with all its
        events; its caller is $CALLER."""
        caller = mobile()
        report = self.run_json("simulate-call", "--type", "appointment", "--company", self["COMPANY"],
                               "--customer", caller)
        assert report["ok"] is True and report["call_id"], report
        self.known["CALLER"] = caller
        return report["call_id"]

    def make_caller(self) -> str:
        self["CALL_ID"]
        return self.known["CALLER"]

    def make_at(self) -> str:
        """A time the company takes bookings with $STAFF: a weekday 3 to 40 days ahead that no
        closure or absence in its current settings covers, between 14:00 and 16:30 (inside the
        hours whether --at is read in the company's zone or in UTC)."""
        settings = {}
        try:
            item = self.aws("dynamodb").get_item(TableName=self.res["CompaniesTable"]["Ref"],
                                                 Key={"pk": {"S": f"company#{self['COMPANY']}"}},
                                                 ConsistentRead=True).get("Item") or {}
            settings = json.loads(item["settings"]["S"]) if "settings" in item else {}
        except Exception as e:  # the defaults below still hold for the demo file
            print(f"company settings not read ({e}); choosing $AT from the demo file's rules")
        blocked = days_of(settings.get("closures"))
        for person in settings.get("staff") or []:
            if person.get("name") == self["STAFF"]:
                blocked |= days_of(person.get("absences"))
        hours = settings.get("hours") or {}
        names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        today = datetime.datetime.now(ZoneInfo("Europe/Berlin")).date()
        rnd = random.Random()
        for _ in range(500):
            day = today + datetime.timedelta(days=rnd.randint(3, 40))
            if day.weekday() >= 5 or (day.month, day.day) in ((12, 24), (12, 25), (12, 26), (12, 31), (1, 1)):
                continue
            if day.isoformat() in blocked or (hours and not hours.get(names[day.weekday()])):
                continue
            minutes = rnd.choice(range(14 * 60, 16 * 60 + 31, 15))
            return f"{day.isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}"
        raise AssertionError(f"no bookable day found for $AT (closures and absences: {sorted(blocked)})")

    def make_message_id(self) -> str:
        """A dead letter as Retell's redelivery of $CALL_ID's call_ended would be one: the envelope
        of the archived event (by its payload_ref, nothing rewritten), in the call_ended dead-letter
        queue. Redriven, the consumer finds the event stored already and is done with it."""
        from test_local_stack import get_call, wait_for
        call_id = self["CALL_ID"]

        def ended():
            item = get_call(self.stack, call_id)
            return item if item and "call_ended" in item.get("events_applied", {}).get("SS", []) else None

        item = wait_for(ended, timeout=60)
        company = item["company_id"]["S"]
        refs = item.get("payload_refs", {})
        refs = refs.get("SS") or [v.get("S") for v in refs.get("L", [])]
        ref = next((r for r in refs if r and r.endswith("/call_ended.json")),
                   f"calls/{company}/{call_id}/call_ended.json")
        self.aws("s3").head_object(Bucket=self.res["EventsBucket"]["Ref"], Key=ref)  # archived, as it should be
        envelope = {"v": 1, "event": "call_ended", "call_id": call_id, "company_id": company,
                    "received_at_ms": int(time.time() * 1000), "payload_ref": ref}
        sent = self.aws("sqs").send_message(QueueUrl=self.res["CallEndedDeadLetterQueue"]["QueueUrl"],
                                            MessageBody=json.dumps(envelope))
        return sent["MessageId"]

    def make_backup(self) -> str:
        """A backup taken now (`backup tables`, as the daily job): its place, as it prints it, else
        the newest backups/tables/<stamp> in the stack's buckets."""
        done = self.run(["--local", "backup", "tables"])
        assert done.returncode == 0, f"retell-ops backup tables: {done.returncode}\n{done.stdout}\n{done.stderr}"
        places = re.findall(r"s3://[A-Za-z0-9.\-_]+/(?:[^\s\"'`]*/)?backups/tables/[^\s\"'`/]+", done.stdout + done.stderr)
        if places:
            return places[-1].rstrip("/.,;:")
        s3 = self.aws("s3")
        newest = None
        for bucket in (b["Name"] for b in s3.list_buckets().get("Buckets", [])):
            listed = s3.list_objects_v2(Bucket=bucket, Prefix="backups/tables/", Delimiter="/")
            for p in listed.get("CommonPrefixes", []):
                if newest is None or p["Prefix"] > newest[1]:
                    newest = (bucket, p["Prefix"])
        assert newest, f"`backup tables` named no place and none is under backups/tables/:\n{done.stdout}\n{done.stderr}"
        return f"s3://{newest[0]}/{newest[1].rstrip('/')}"


@pytest.fixture(scope="module")
def values(stack, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("runbook")
    v = Values(stack, workdir)
    # `companies load companies/$COMPANY.json`: the file the stack loaded that company from.
    (workdir / "companies").mkdir()
    company = v["COMPANY"]
    shutil.copy(stack.state_dir / "companies" / f"{company}.json", workdir / "companies" / f"{company}.json")
    return v


# --- what can be checked without a stack --------------------------------------------------------

def test_runbook_commands_are_complete_and_well_formed():
    text = RUNBOOK.read_text()
    commands = runbook_commands(text)
    assert len(commands) >= 40, f"only {len(commands)} commands found: is the parser still reading the blocks?"
    defined = defined_variables(text)
    for c in commands:
        where = f"runbook line {c.line}: {c.text}"
        assert c.tokens.count("--stack") == 1 and c.tokens[c.tokens.index("--stack") + 1] == "$STACK", (
            f"{where}: every command names its stack as `--stack $STACK`")
        for name in c.variables():
            assert name in defined, f"{where}: ${name} is not set by an `export {name}=` line of the runbook"
            assert Values.can_make(name), f"{where}: the test cannot fill ${name}: add Values.make_{name.lower()}"
    for page in runbook_pages(text):
        for a, b in VARIABLE.findall(page):
            assert (a or b) in defined and Values.can_make(a or b), f"page $CC{page}: ${a or b} unknown"
    # Pause is always followed by its resume, so the rehearsal leaves nothing paused.
    paused = set()
    for c in commands:
        words = [t for t in c.tokens if not t.startswith("-") and t != "$STACK"]
        if words[1:2] == ["pause"]:
            paused.add(words[2])
        elif words[1:2] == ["resume"]:
            paused.discard(words[2])
    assert not paused, f"paused and never resumed in the runbook: {paused}"


def test_runbook_exit_comments_are_read():
    assert expected_codes("", "x") == {0}
    assert expected_codes("# exits 1 while something is paused", "x") == {1}
    assert expected_codes("# exits 0 or 1: 1 when a figure is past its alert threshold", "x") == {0, 1}
    assert split_comment('retell-ops --stack $STACK logs --since "1 h # no"   # exits 1') == (
        'retell-ops --stack $STACK logs --since "1 h # no"', "# exits 1")
    block = "```bash\nretell-ops --stack $STACK health   # exits 1 while paused\n```\n"
    [c] = runbook_commands(block)
    assert c.expect == {1} and c.tokens == ["retell-ops", "--stack", "$STACK", "health"]
    with pytest.raises(AssertionError):
        runbook_commands("```\nalias x='retell-ops'\n```\n")
    with pytest.raises(AssertionError):
        runbook_commands("```\nretell-ops --stack $STACK health  # exit 1\n```\n")


def test_runbook_pages_are_control_center_routes():
    routes = control_center_routes()
    pages = runbook_pages(RUNBOOK.read_text())
    assert "" in pages and "/dead-letters" in pages, pages
    for page in pages:
        path = VARIABLE.sub("x", page.split("?", 1)[0]) or "/"
        assert any(r.fullmatch(path) for r in routes), f"$CC{page}: no such route in {ROUTES.name}"


def test_runbook_alarms_are_the_templates():
    template = TEMPLATE.read_text()
    resources = set(re.findall(r"^  ([A-Za-z0-9]+):\s*$", template, re.M))
    for alarm in set(ALARM.findall(RUNBOOK.read_text())):
        assert alarm in resources, f"the runbook names {alarm}, which template.yaml does not define"


# --- against the stack --------------------------------------------------------------------------

def admin_token(stack) -> str:
    """An ID token of the demo admin, as a script gets one (README, "Admin API")."""
    from test_local_stack import aws
    user, password = stack.users["admin"]
    out = aws(stack, "cognito-idp").initiate_auth(
        ClientId=stack.description["resources"]["ControlCenterUserPoolClient"]["Ref"],
        AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": user, "PASSWORD": password})
    return out["AuthenticationResult"]["IdToken"]


def get(url: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def test_every_page_the_runbook_names_answers_an_admin(stack, values):
    token = admin_token(stack)
    failures = []
    for page in runbook_pages(RUNBOOK.read_text()):
        url = values["CC"] + values.fill(page, quote=lambda v: urllib.parse.quote(v, safe=""))
        for attempt in range(3):  # a function's first start may take a moment
            status, body = get(url, token)
            if status not in (502, 503, 504):
                break
            time.sleep(2)
        if status != 200:
            failures.append(f"$CC{page} → {url}: {status} {body[:300]!r}")
    assert not failures, "\n".join(failures)


def drain(sqs, url: str) -> int:
    """Deletes every message of a queue (receive and delete: no purge, which AWS allows once a
    minute and the runbook's `dlq purge` may need)."""
    deleted = 0
    for _ in range(100):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        if not got:
            break
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            deleted += 1
    return deleted


def start_healthy(stack, values: Values) -> None:
    """The rehearsal's starting point: the queues idle, no dead letters, the wiring synced."""
    from test_local_stack import aws
    sqs = aws(stack, "sqs")
    res = stack.description["resources"]
    queues = ["CallStartedQueue", "CallEndedQueue", "CallAnalyzedQueue", "MessagingQueue"]
    deadline = time.time() + 90
    while time.time() < deadline:
        busy = 0
        for q in queues:
            attrs = sqs.get_queue_attributes(QueueUrl=res[q]["QueueUrl"], AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            busy += sum(int(v) for v in attrs.values())
        if not busy:
            break
        time.sleep(1)
    for q in queues:
        dead = q.replace("Queue", "DeadLetterQueue")
        if n := drain(sqs, res[dead]["QueueUrl"]):
            print(f"deleted {n} dead letter(s) earlier tests left in {dead}")
    done = values.run(["--local", "sync"])
    assert done.returncode == 0, f"retell-ops sync: {done.stdout}\n{done.stderr}"


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def test_every_runbook_command_runs_as_the_runbook_says(stack, values):
    commands = runbook_commands(RUNBOOK.read_text())
    start_healthy(stack, values)
    failures, ran, started = [], 0, time.time()
    try:
        for c in commands:
            where = f"runbook line {c.line}: {c.text}"
            # `--stack $STACK` is this stack: `--local`; then the other variables.
            i = c.tokens.index("--stack")
            words = c.tokens[1:i] + ["--local"] + c.tokens[i + 2:]
            try:
                argv = [values.fill(w) for w in words]
            except Exception as e:  # a value the stack could not give
                failures.append(f"{where}\n  filling its variables failed: {type(e).__name__}: {e}")
                continue
            shown = "retell-ops " + shlex.join(argv)
            t0 = time.time()
            if c.follows:
                try:
                    done = values.run(argv, timeout=FOLLOW_SECONDS)
                except subprocess.TimeoutExpired:
                    outcome = f"followed for {FOLLOW_SECONDS} s, then stopped (Ctrl-C)"
                else:
                    failures.append(f"{where}\n  ran: {shown}\n  a --follow ended by itself within "
                                    f"{FOLLOW_SECONDS} s with {done.returncode}\n"
                                    f"  stdout:\n{tail(done.stdout)}\n  stderr:\n{tail(done.stderr)}")
                    continue
            else:
                try:
                    done = values.run(argv)
                except subprocess.TimeoutExpired:
                    failures.append(f"{where}\n  ran: {shown}\n  still running after {COMMAND_TIMEOUT} s")
                    continue
                outcome = f"exit {done.returncode}"
                if done.returncode not in c.expect:
                    failures.append(f"{where}\n  ran: {shown}\n  exit {done.returncode}, the runbook says "
                                    f"{' or '.join(map(str, sorted(c.expect)))}\n"
                                    f"  stdout:\n{tail(done.stdout)}\n  stderr:\n{tail(done.stderr)}")
            ran += 1
            print(f"{time.time() - t0:6.1f} s  {outcome:<12} line {c.line}: {shown}")
    finally:
        # Whatever happened, the stack the other tests share runs again.
        for part in ("consumers", "messaging", "reconcile"):
            done = values.run(["--local", "resume", part], timeout=120)
            if done.returncode != 0:
                print(f"resume {part} after the rehearsal: {done.returncode} {done.stderr.strip()[:200]}")
    print(f"{ran} of {len(commands)} runbook commands run in {time.time() - started:.0f} s")
    assert not failures, f"{len(failures)} runbook command(s) did not end as the runbook says:\n\n" + "\n\n".join(failures)
