#!/usr/bin/env python3
"""Create the template's stateful resources in the AWS emulator, from template.yaml itself.

template.yaml is the one list of tables, queues, dead-letter queues, bucket and secret: this
script reads it (with cfn-lint's CloudFormation-aware YAML loader), creates each resource under
`<prefix><LogicalId>` names, resolves every function's environment the way CloudFormation would
(Ref / GetAtt / Sub), and prints a JSON description of the local stack:

    {"resources": {...}, "functions": {"webhook": {"env": {...}}, ...},
     "event_sources": [{"function": "call-ended", "queue_url": ..., "batch_size": 10, ...}]}

Used by `make dev`, `make test` (the Rust integration tests call it with their own prefix) and
the end-to-end tests.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import zipfile
from pathlib import Path

import boto3
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
REGION_DEFAULT = "eu-central-1"
ACCOUNT = "123456789012"  # moto's account


def load_template(path: Path) -> dict:
    template, matches = decode(str(path))
    if matches or template is None:
        raise SystemExit(f"cannot read {path}: {matches}")
    return template


class Stack:
    def __init__(self, template: dict, endpoint: str, region: str, prefix: str, params: dict):
        self.t = template
        self.prefix = prefix
        self.region = region
        self.params = {
            name: params.get(name, spec.get("Default"))
            for name, spec in template.get("Parameters", {}).items()
        }
        kw = dict(endpoint_url=endpoint, region_name=region,
                  aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                  aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
        self.ddb = boto3.client("dynamodb", **kw)
        self.sqs = boto3.client("sqs", **kw)
        self.s3 = boto3.client("s3", **kw)
        self.sm = boto3.client("secretsmanager", **kw)
        self.idp = boto3.client("cognito-idp", **kw)
        self.logs = boto3.client("logs", **kw)
        self.ses = boto3.client("sesv2", **kw)
        self.lam = boto3.client("lambda", **kw)
        self.events = boto3.client("events", **kw)
        self.iam = boto3.client("iam", **kw)
        # logical id -> {"Ref": ..., "Arn": ..., ...}
        self.physical: dict[str, dict] = {}

    # ------------------------------------------------------------ intrinsics
    def resolve(self, value):
        if isinstance(value, dict) and len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.physical[logical][attr]
            if fn == "Fn::If":
                name, then, otherwise = arg
                return self.resolve(then if self.condition(name) else otherwise)
            if fn == "Fn::Join":
                sep, values = arg
                return sep.join(str(v) for v in self.resolve(values))
            if fn == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if fn == "Fn::FindInMap":
                name, key, attr = (self.resolve(a) for a in arg)
                return self.t["Mappings"][name][key][attr]
            if fn == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def sub(m):
                    name = m.group(1)
                    if name in extra:
                        return str(self.resolve(extra[name]))
                    if "." in name:
                        logical, attr = name.split(".", 1)
                        return str(self.physical[logical][attr])
                    return str(self.ref(name))

                return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def condition(self, name_or_expr) -> bool:
        """A condition of the template (by name) or a condition expression, as CloudFormation
        evaluates it."""
        if isinstance(name_or_expr, str):
            return self.condition(self.t["Conditions"][name_or_expr])
        (fn, arg), = name_or_expr.items()
        if fn == "Fn::Not":
            return not self.condition(arg[0])
        if fn == "Fn::And":
            return all(self.condition(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.condition(a) for a in arg)
        if fn == "Fn::Equals":
            a, b = (self.resolve(v) for v in arg)
            return str(a) == str(b)
        if fn == "Condition":
            return self.condition(arg)
        raise ValueError(f"condition function {fn} is not evaluated locally")

    def ref(self, name):
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": ACCOUNT,
                  "AWS::URLSuffix": "amazonaws.com", "AWS::Partition": "aws",
                  "AWS::StackName": self.prefix.rstrip("-") or "local"}
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        return self.physical[name]["Ref"]

    def name(self, logical: str) -> str:
        return f"{self.prefix}{logical}"

    # ------------------------------------------------------------ resources
    def resources(self, kind: str):
        for logical, res in self.t["Resources"].items():
            if res["Type"] == kind:
                yield logical, res.get("Properties", {})

    def create_queues(self):
        queues = dict(self.resources("AWS::SQS::Queue"))
        # Dead-letter queues first: a queue's redrive policy needs its DLQ's ARN.
        pending = list(queues)
        while pending:
            for logical in list(pending):
                props = queues[logical]
                redrive = props.get("RedrivePolicy")
                target = redrive and redrive["deadLetterTargetArn"]
                dep = target and target["Fn::GetAtt"][0] if isinstance(target, dict) else None
                if dep and dep not in self.physical:
                    continue
                attrs = {}
                for prop, attr in [("VisibilityTimeout", "VisibilityTimeout"),
                                   ("MessageRetentionPeriod", "MessageRetentionPeriod"),
                                   ("DelaySeconds", "DelaySeconds")]:
                    if prop in props:
                        attrs[attr] = str(props[prop])
                if redrive:
                    attrs["RedrivePolicy"] = json.dumps({
                        "deadLetterTargetArn": self.resolve(redrive["deadLetterTargetArn"]),
                        "maxReceiveCount": str(redrive["maxReceiveCount"]),
                    })
                name = self.name(logical)
                url = self.sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
                arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                    "Attributes"]["QueueArn"]
                self.physical[logical] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
                pending.remove(logical)

    def create_email_identities(self):
        """SES identities the template names (a parameter left empty names none)."""
        for logical, props in self.resources("AWS::SES::EmailIdentity"):
            identity = str(self.resolve(props["EmailIdentity"]) or "")
            if identity:
                self.ses.create_email_identity(EmailIdentity=identity)
                self.physical[logical] = {"Ref": identity}

    def create_tables(self):
        for logical, props in self.resources("AWS::DynamoDB::Table"):
            name = self.name(logical)
            args = dict(TableName=name, AttributeDefinitions=props["AttributeDefinitions"],
                        KeySchema=props["KeySchema"],
                        BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"))
            if props.get("GlobalSecondaryIndexes"):
                args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            try:
                self.ddb.create_table(**args)
            except self.ddb.exceptions.ResourceInUseException:
                pass
            ttl = props.get("TimeToLiveSpecification") or {}
            if ttl.get("Enabled"):
                self.ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"], "Enabled": True})
            if (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"):
                # Continuous backups as in AWS: `retell-ops backup calls` exports from them.
                self.ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": True})
            arn = self.ddb.describe_table(TableName=name)["Table"]["TableArn"]
            self.physical[logical] = {"Ref": name, "Arn": arn}

    def create_buckets(self):
        for logical, props in self.resources("AWS::S3::Bucket"):
            name = re.sub(r"[^a-z0-9-]", "-", self.name(logical).lower())[:63]
            try:
                self.s3.create_bucket(Bucket=name, CreateBucketConfiguration={
                    "LocationConstraint": self.region})
            except (self.s3.exceptions.BucketAlreadyOwnedByYou, self.s3.exceptions.BucketAlreadyExists):
                pass
            self.physical[logical] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
            rules = (props.get("LifecycleConfiguration") or {}).get("Rules")
            if rules:
                # The template's lifecycle rules, as S3's API spells them (the emulator keeps
                # them; it does not expire anything).
                self.s3.put_bucket_lifecycle_configuration(
                    Bucket=name, LifecycleConfiguration={"Rules": [self.lifecycle_rule(r) for r in rules]})

    def lifecycle_rule(self, rule: dict) -> dict:
        rule = self.resolve(rule)
        out: dict = {"ID": rule["Id"], "Status": rule["Status"]}
        tags = rule.get("TagFilters") or []
        if tags and rule.get("Prefix"):
            out["Filter"] = {"And": {"Prefix": rule["Prefix"], "Tags": tags}}
        elif len(tags) == 1:
            out["Filter"] = {"Tag": tags[0]}
        elif tags:
            out["Filter"] = {"And": {"Tags": tags}}
        else:
            out["Filter"] = {"Prefix": rule.get("Prefix", "")}
        if "ExpirationInDays" in rule:
            out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "AbortIncompleteMultipartUpload" in rule:
            out["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
        return out

    def create_secrets(self):
        for logical, props in self.resources("AWS::SecretsManager::Secret"):
            name = self.name(logical)
            value = self.resolve(props.get("SecretString", ""))
            try:
                arn = self.sm.create_secret(Name=name, SecretString=value)["ARN"]
            except self.sm.exceptions.ResourceExistsException:
                arn = self.sm.put_secret_value(SecretId=name, SecretString=value)["ARN"]
            self.physical[logical] = {"Ref": arn, "Id": arn}

    def create_user_pools(self):
        """The control center's login: pools (reused by name), their app clients and groups."""
        existing = {p["Name"]: p["Id"] for p in self.idp.list_user_pools(MaxResults=60)["UserPools"]}
        for logical, props in self.resources("AWS::Cognito::UserPool"):
            name = self.name(logical)
            pool_id = existing.get(name)
            if pool_id is None:
                args = {"PoolName": name}
                for key in ("Policies", "UsernameAttributes", "AutoVerifiedAttributes",
                            "AdminCreateUserConfig", "AccountRecoverySetting"):
                    if key in props:
                        args[key] = self.resolve(props[key])
                if "Schema" in props:
                    args["Schema"] = self.resolve(props["Schema"])
                pool_id = self.idp.create_user_pool(**args)["UserPool"]["Id"]
            arn = self.idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]
            self.physical[logical] = {"Ref": pool_id, "Arn": arn}
        for logical, props in self.resources("AWS::Cognito::UserPoolClient"):
            pool_id = self.resolve(props["UserPoolId"])
            name = props.get("ClientName", logical)
            clients = self.idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
            found = next((c["ClientId"] for c in clients if c["ClientName"] == name), None)
            if found is None:
                found = self.idp.create_user_pool_client(
                    UserPoolId=pool_id, ClientName=name, GenerateSecret=False,
                    ExplicitAuthFlows=props.get("ExplicitAuthFlows", []),
                    PreventUserExistenceErrors=props.get("PreventUserExistenceErrors", "ENABLED"),
                    ReadAttributes=props.get("ReadAttributes", []),
                    WriteAttributes=props.get("WriteAttributes", []),
                )["UserPoolClient"]["ClientId"]
            self.physical[logical] = {"Ref": found}
        for logical, props in self.resources("AWS::Cognito::UserPoolGroup"):
            pool_id = self.resolve(props["UserPoolId"])
            try:
                self.idp.create_group(GroupName=props["GroupName"], UserPoolId=pool_id,
                                      Description=props.get("Description", ""))
            except self.idp.exceptions.GroupExistsException:
                pass
            self.physical[logical] = {"Ref": props["GroupName"]}

    def create_log_groups(self):
        """The template's log groups (the functions' own among them), with their retention."""
        for logical, props in self.resources("AWS::Logs::LogGroup"):
            name = self.resolve(props["LogGroupName"]) if "LogGroupName" in props else self.name(logical)
            self._log_group(name, props.get("RetentionInDays"))
            arn = f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:{name}:*"
            self.physical[logical] = {"Ref": name, "Arn": arn}

    def _log_group(self, name: str, retention) -> None:
        try:
            self.logs.create_log_group(logGroupName=name)
        except self.logs.exceptions.ResourceAlreadyExistsException:
            pass
        if retention is not None:
            self.logs.put_retention_policy(logGroupName=name, retentionInDays=int(self.resolve(retention)))

    def function_log_group(self, logical: str, props: dict) -> str:
        """Where a function logs: its LoggingConfig's group, else Lambda's `/aws/lambda/<name>`."""
        group = (props.get("LoggingConfig") or {}).get("LogGroup")
        return self.resolve(group) if group else f"/aws/lambda/{self.physical[logical]['Ref']}"

    # ------------------------------------------------------------ functions
    def name_functions(self):
        """Each function's physical name, and its log group created (the local stack ships the
        functions' log lines into it)."""
        for logical, props in self.resources("AWS::Serverless::Function"):
            name = self.name(logical)
            self.physical[logical] = {"Ref": name, "Arn": f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"}
            self._log_group(self.function_log_group(logical, props), None)
        # The HTTP API has no local counterpart: its URLs are the gate's, set by the local stack.
        for logical, _ in self.resources("AWS::Serverless::HttpApi"):
            self.physical[logical] = {"Ref": "local-api"}

    def functions(self) -> tuple[dict, list]:
        glob = self.t.get("Globals", {}).get("Function", {})
        glob_env = glob.get("Environment", {}).get("Variables", {})
        functions, sources, schedules = {}, [], []
        for logical, props in self.resources("AWS::Serverless::Function"):
            meta = self.t["Resources"][logical].get("Metadata", {})
            binary = meta.get("BuildProperties", {}).get("Binary") or meta.get("Binary")
            env = {**glob_env, **props.get("Environment", {}).get("Variables", {})}
            routes = []
            for name, event in props.get("Events", {}).items():
                ep = event.get("Properties", {})
                if event["Type"] == "SQS":
                    queue_arn = self.resolve(ep["Queue"])
                    queue = next(p for p in self.physical.values() if p.get("Arn") == queue_arn)
                    sources.append({
                        "function": binary,
                        "logical_id": logical,
                        "queue_url": queue["QueueUrl"],
                        "queue_arn": queue_arn,
                        "batch_size": int(ep.get("BatchSize", 10)),
                        "report_batch_item_failures":
                            "ReportBatchItemFailures" in ep.get("FunctionResponseTypes", []),
                    })
                elif event["Type"] in ("Schedule", "ScheduleV2"):
                    expression = ep.get("Schedule") or ep.get("ScheduleExpression") or ""
                    rule = self.resolve(ep["Name"]) if "Name" in ep else f"{self.prefix}{logical}{name}"
                    schedules.append({"function": binary, "logical_id": logical, "rule": rule,
                                      "expression": expression, "every_s": rate_seconds(expression)})
                elif event["Type"] in ("HttpApi", "Api"):
                    routes.append({"method": ep.get("Method"), "path": ep.get("Path")})
            logging = {**glob.get("LoggingConfig", {}), **props.get("LoggingConfig", {})}
            resolved_env = {k: str(self.resolve(v)) for k, v in env.items()}
            if "ApplicationLogLevel" in logging:
                # What Lambda's advanced logging controls set from the function's log level.
                resolved_env["AWS_LAMBDA_LOG_LEVEL"] = str(self.resolve(logging["ApplicationLogLevel"]))
            functions[binary] = {
                "logical_id": logical,
                "log_group": self.function_log_group(logical, props),
                "env": resolved_env,
                "routes": routes,
                "timeout": props.get("Timeout", glob.get("Timeout", 3)),
            }
        return functions, sources, schedules

    def create(self) -> dict:
        self.create_tables()
        self.create_buckets()
        self.create_secrets()
        self.create_queues()
        self.create_user_pools()
        self.create_log_groups()
        self.create_email_identities()
        self.name_functions()
        functions, sources, schedules = self.functions()
        self.create_processing(sources, schedules)
        switches = (self.t.get("Outputs", {}).get("ProcessingSwitches") or {}).get("Value")
        return {"region": self.region, "resources": self.physical,
                "functions": functions, "event_sources": sources, "schedules": schedules,
                "processing_switches": json.loads(self.resolve(switches)) if switches else {}}

    def create_processing(self, sources: list, schedules: list) -> None:
        """What Lambda and EventBridge keep of the functions' triggers: each queue's event source
        mapping (on a function of that name, which cargo lambda runs, not moto) and each
        schedule's rule. The local pump reads their state, so `retell-ops pause` works here as in
        AWS; `mapping_uuid` is added to each source."""
        try:
            role = self.iam.create_role(RoleName=f"{self.prefix}functions", Path="/",
                                        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                            {"Effect": "Allow", "Action": "sts:AssumeRole",
                                             "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        except self.iam.exceptions.EntityAlreadyExistsException:
            role = self.iam.get_role(RoleName=f"{self.prefix}functions")["Role"]["Arn"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n# runs under cargo lambda locally\n")
        for logical in sorted({s["logical_id"] for s in sources + schedules}):
            try:
                self.lam.create_function(FunctionName=self.physical[logical]["Ref"], Runtime="provided.al2023",
                                         Role=role, Handler="bootstrap", Code={"ZipFile": buf.getvalue()})
            except self.lam.exceptions.ResourceConflictException:
                pass  # bootstrapped before under this prefix
        for source in sources:
            function = self.physical[source["logical_id"]]["Ref"]
            existing = [m for m in self.lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
                        if m["EventSourceArn"] == source["queue_arn"]]
            mapping = existing[0] if existing else self.lam.create_event_source_mapping(
                EventSourceArn=source["queue_arn"], FunctionName=function,
                BatchSize=source["batch_size"], Enabled=True)
            source["mapping_uuid"] = mapping["UUID"]
        for schedule in schedules:
            self.events.put_rule(Name=schedule["rule"], ScheduleExpression=schedule["expression"], State="ENABLED")
            self.events.put_targets(Rule=schedule["rule"], Targets=[
                {"Id": "function", "Arn": self.physical[schedule["logical_id"]]["Arn"]}])


def rate_seconds(expression: str) -> int | None:
    """`rate(5 minutes)` as seconds; anything else (cron) is not run locally."""
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not m:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
    return int(m.group(1)) * unit


def bootstrap(endpoint: str, prefix: str, params: dict, region: str | None = None,
              template: Path = ROOT / "template.yaml") -> dict:
    region = region or os.environ.get("AWS_REGION") or REGION_DEFAULT
    return Stack(load_template(template), endpoint, region, prefix, params).create()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"), required=False)
    ap.add_argument("--prefix", default="local-")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="template parameter value (e.g. RetellApiKey=...)")
    args = ap.parse_args()
    if not args.endpoint:
        ap.error("--endpoint or AWS_ENDPOINT_URL is required: this only talks to the emulator")
    params = dict(p.split("=", 1) for p in args.param)
    json.dump(bootstrap(args.endpoint, args.prefix, params), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
