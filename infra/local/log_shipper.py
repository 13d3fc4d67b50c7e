"""The functions' output, treated as Lambda and CloudWatch treat it, for the local stack: each JSON
log line into its function's log group in the emulator's CloudWatch Logs, and Embedded Metric
Format lines into its CloudWatch metrics. The control center then reads logs and metrics the same
way here and in AWS."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import boto3


def ship_logs(endpoint: str, region: str, groups: dict[str, str], logs_dir: Path, stopping: threading.Event,
              interval: float = 1.0) -> None:
    """Until `stopping`, every `interval` s: the new lines of logs_dir/functions.log into the
    emulator's CloudWatch Logs, each into its function's group (groups: function -> log group), as
    Lambda does, and their EMF metrics into CloudWatch. cargo lambda writes every function to one
    file; a line's span says whose. Failures go to logs_dir/supervisor.log, never further."""
    logs = boto3.client("logs", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="test", aws_secret_access_key="test")
    cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=region,
                              aws_access_key_id="test", aws_secret_access_key="test")
    created: set[str] = set()
    path = logs_dir / "functions.log"
    offset = path.stat().st_size if path.exists() else 0
    while not stopping.is_set():
        time.sleep(interval)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            continue
        end = chunk.rfind(b"\n")
        if end < 0:
            continue
        offset += end + 1
        batches: dict[str, list[dict]] = {}
        metrics: dict[str, list[dict]] = {}
        for raw in chunk[: end + 1].splitlines():
            for namespace, datum in emf_datums(raw):
                metrics.setdefault(namespace, []).append(datum)
            function = function_of_line(raw)
            if function not in groups:
                continue
            try:
                ts = json.loads(raw).get("timestamp", "")
                ms = int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
            except (ValueError, AttributeError):
                ms = int(time.time() * 1000)
            batches.setdefault(groups[function], []).append(
                {"timestamp": ms, "message": raw.decode("utf-8", "replace")})
        for group, events in batches.items():
            try:
                if group not in created:
                    try:
                        logs.create_log_stream(logGroupName=group, logStreamName="local")
                    except logs.exceptions.ResourceAlreadyExistsException:
                        pass
                    created.add(group)
                events.sort(key=lambda e: e["timestamp"])
                for i in range(0, len(events), 5000):
                    logs.put_log_events(logGroupName=group, logStreamName="local",
                                        logEvents=events[i:i + 5000])
            except Exception as err:  # noqa: BLE001 - shipping is best effort, never fatal
                with open(logs_dir / "supervisor.log", "a") as out:
                    out.write(f"log shipping to {group} failed: {err}\n")

        # What CloudWatch does with Lambda's Embedded Metric Format lines.
        for namespace, data in metrics.items():
            data = as_value_lists(data)
            try:
                for i in range(0, len(data), 1000):
                    cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[i:i + 1000])
            except Exception as err:  # noqa: BLE001 - best effort, as above
                with open(logs_dir / "supervisor.log", "a") as out:
                    out.write(f"metrics of {namespace} failed: {err}\n")


def emf_datums(raw: bytes) -> list[tuple[str, dict]]:
    """The metrics of an Embedded Metric Format line, as CloudWatch extracts them: for each
    directive, each metric under each of its dimension sets (values from the line's fields)."""
    if b'"_aws"' not in raw:
        return []
    try:
        line = json.loads(raw)
        meta = line["_aws"]
        when = datetime.fromtimestamp(meta["Timestamp"] / 1000, timezone.utc)
        out = []
        for directive in meta["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = line.get(metric["Name"])
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    continue
                for names in directive.get("Dimensions") or [[]]:
                    out.append((directive["Namespace"], {
                        "MetricName": metric["Name"], "Timestamp": when, "Value": float(value),
                        "Unit": metric.get("Unit", "None"),
                        "Dimensions": [{"Name": n, "Value": str(line[n])} for n in names]}))
        return out
    except (ValueError, KeyError, TypeError):
        return []


def as_value_lists(data: list[dict]) -> list[dict]:
    """Metric data of one metric, unit, dimensions and second as one datum with `Values` (at
    most 150, CloudWatch's limit), as CloudWatch takes them: the same statistics, a fraction of
    the request for the emulator to parse (it parses 1,000 single-value data in ~110 ms, while
    holding its interpreter: a tool call arriving meanwhile waits that long)."""
    grouped: dict[tuple, list[float]] = {}
    for d in data:
        when = d["Timestamp"].replace(microsecond=0)
        key = (d["MetricName"], d["Unit"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"]), when)
        grouped.setdefault(key, []).append(d["Value"])
    out = []
    for (name, unit, dims, when), values in grouped.items():
        for i in range(0, len(values), 150):
            out.append({"MetricName": name, "Unit": unit, "Timestamp": when, "Values": values[i:i + 150],
                        "Dimensions": [{"Name": n, "Value": v} for n, v in dims]})
    return out


def function_of_line(raw: bytes) -> str | None:
    """Which function wrote a JSON log line, by its span: the webhook, a tool (its name), the
    inbound webhook, a consumer (its event), the reconcile job, the control center."""
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    span = line.get("span") if isinstance(line, dict) else None
    if not isinstance(span, dict):
        return None
    name, event = span.get("name"), str(span.get("event") or "")
    if name == "tool":
        return event.replace("_", "-")
    if name == "consume" and event.startswith("call_"):
        return "call-" + event[len("call_"):]
    return {"webhook": "webhook", "inbound": "call-inbound", "reconcile": "reconcile",
            "control_center": "control-center"}.get(name)
