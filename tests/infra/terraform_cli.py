"""A real Terraform on ``infra/terraform``: fmt, init, validate, and plan against moto.

Every run works on a copy of the configuration in a temporary directory, with a CLI
configuration, a data directory and a plugin cache of its own there, so neither the
repository nor the user's ``~/.terraformrc`` is touched. Where the machine has a filesystem
mirror of the providers (a ``tf-plugins`` folder, see ``find_mirror``) init installs from it
and never from the network.

``plan`` points every AWS endpoint of the provider at a moto server (``MotoServer``) in which
the data sources the configuration reads exist first: the caller identity (moto's account),
the Powertools layer's public SSM parameter, the VPC and its subnets.

The checks that need a plan (``security_group_description_problems``,
``shared_global_names``) and the diagnostics of validate name the file a finding comes from,
as ``infra/terraform/<path>``, so a failing ``make test`` says where to look.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.infra.terraform import REPO, TERRAFORM

INSTALL_HINT = (
    "terraform is not on PATH: install Terraform 1.11 or newer (one binary, from HashiCorp's "
    "releases or your system's package manager) to run the infra tests"
)
# Where a machine keeps its provider mirror (`find / -maxdepth 2 -name tf-plugins`).
MIRROR_ENV = "TF_PLUGIN_MIRROR"
MIRROR_NAME = "tf-plugins"
REGION = "ap-southeast-1"
# The account moto answers GetCallerIdentity with; example.tfvars' image lives in it.
MOTO_ACCOUNT = "123456789012"
# A cursor_secret for plans (ephemeral: it appears in no plan file).
PLAN_CURSOR_SECRET = "plan-only-cursor-key-0123456789abcdef"
OVERRIDE_FILE = "moto_override.tf"
# A plan takes ~20 s of CPU; on a machine shared by many test runs it waits far longer.
TIMEOUT = 1200.0

# Every service the configuration's resources and data sources call, as the provider's
# endpoints block names it, by the resource type prefixes that call it. A resource type
# no prefix matches fails test_every_resource_type_has_its_endpoint_at_moto.
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "apigateway": ("aws_api_gateway_",),
    "applicationautoscaling": ("aws_appautoscaling_",),
    "cloudwatch": ("aws_cloudwatch_metric_alarm", "aws_cloudwatch_dashboard"),
    "logs": ("aws_cloudwatch_log_",),
    "dynamodb": ("aws_dynamodb_",),
    "ec2": ("aws_vpc", "aws_security_group", "aws_subnet", "aws_ec2_"),
    "ecr": ("aws_ecr_",),
    "ecs": ("aws_ecs_",),
    "elbv2": ("aws_lb", "aws_elb_service_account"),
    "iam": ("aws_iam_",),
    "kms": ("aws_kms_",),
    "lambda": ("aws_lambda_",),
    "s3": ("aws_s3_",),
    "secretsmanager": ("aws_secretsmanager_",),
    "sns": ("aws_sns_",),
    "sqs": ("aws_sqs_",),
    "ssm": ("aws_ssm_",),
    "sts": ("aws_caller_identity",),
    "wafv2": ("aws_wafv2_",),
}
LOCAL_ONLY = ("aws_partition", "aws_region")  # answered by the provider itself

# Names that must be unique in an account across regions (IAM) or in all of AWS (S3).
GLOBAL_NAMES: dict[str, str] = {
    "aws_iam_role": "name",
    "aws_iam_policy": "name",
    "aws_iam_user": "name",
    "aws_iam_group": "name",
    "aws_iam_instance_profile": "name",
    "aws_s3_bucket": "bucket",
}
# EC2's character set for security group and rule descriptions (CreateSecurityGroup,
# IpRange/UserIdGroupPair Description): a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*
EC2_DESCRIPTION = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*")
DESCRIBED_EC2_TYPES = (
    "aws_security_group",
    "aws_security_group_rule",
    "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule",
)


class TerraformError(AssertionError):
    """A Terraform command failed; the message holds its diagnostics, file by file."""


def find_mirror() -> Path | None:
    given = os.environ.get(MIRROR_ENV)
    if given:
        return Path(given)
    for candidate in sorted(Path("/").glob(f"*/{MIRROR_NAME}")):
        if candidate.is_dir():
            return candidate
    return None


def cli_config(mirror: Path | None, plugin_cache: Path) -> str:
    lines = [f'plugin_cache_dir = "{plugin_cache}"', "disable_checkpoint = true"]
    if mirror is not None:
        lines += [
            "provider_installation {",
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["*/*/*"]\n  }}',
            '  direct {\n    exclude = ["*/*/*"]\n  }',
            "}",
        ]
    return "\n".join(lines) + "\n"


def moto_override(endpoint: str) -> str:
    endpoints = "\n".join(f'    {name} = "{endpoint}"' for name in sorted(ENDPOINTS))
    return f"""# Written by tests/infra: every endpoint at the moto server, no real credentials.
provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


def diagnostics(output: str, root: Path) -> str:
    """``terraform -json`` diagnostics as ``infra/terraform/<file>:<line>: <summary>``."""
    found = []
    try:
        messages = [json.loads(output)]  # validate -json: one document
    except json.JSONDecodeError:
        messages = []
        for line in output.splitlines():  # plan -json: one message per line
            try:
                messages.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    for message in messages:
        items = message.get("diagnostics") or (
            [message["diagnostic"]] if "diagnostic" in message else []
        )
        for item in items:
            if item.get("severity") != "error":
                continue
            where = item.get("range") or {}
            filename = where.get("filename", "?")
            line_no = (where.get("start") or {}).get("line", "?")
            found.append(
                f"{repo_path(root, filename)}:{line_no}: {item['summary']}: "
                f"{item.get('detail', '')}".strip()
            )
    return "\n".join(found) or output[-3000:]


def repo_path(root: Path, filename: str) -> str:
    """``filename`` (relative to a copy's root) as the repository names it."""
    return f"{TERRAFORM.relative_to(REPO)}/{posixpath.normpath(Path(filename).as_posix())}"


@dataclass
class Terraform:
    """The terraform binary with a private CLI configuration and data directory."""

    home: Path
    binary: str
    mirror: Path | None

    @classmethod
    def create(cls, home: Path) -> Terraform:
        binary = shutil.which("terraform")
        if binary is None:
            pytest.fail(INSTALL_HINT, pytrace=False)
        mirror = find_mirror()
        (home / "plugin-cache").mkdir(parents=True, exist_ok=True)
        (home / "cli.tfrc").write_text(cli_config(mirror, home / "plugin-cache"))
        return cls(home, binary, mirror)

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TF_", "AWS_")) and k != "CHECKPOINT_DISABLE"
        }
        return {
            **env,
            "TF_CLI_CONFIG_FILE": str(self.home / "cli.tfrc"),
            "TF_DATA_DIR": str(self.home / "data"),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "TF_VAR_cursor_secret": PLAN_CURSOR_SECRET,
        }

    def run(
        self, args: list[str], cwd: Path, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def check(self, args: list[str], cwd: Path, timeout: float = TIMEOUT) -> str:
        result = self.run(args, cwd, timeout)
        if result.returncode != 0:
            raise TerraformError(
                f"terraform {args[0]} failed:\n{diagnostics(result.stdout, cwd)}\n"
                f"{result.stderr[-2000:]}"
            )
        return result.stdout

    def fmt_check(self) -> subprocess.CompletedProcess[str]:
        return self.run(["fmt", "-check", "-recursive", "-list=true"], TERRAFORM, 60)

    def copy(self, name: str) -> Path:
        """A copy of infra/terraform (without local state or data) to work on."""
        target = self.home / name
        shutil.copytree(
            TERRAFORM,
            target,
            ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "tfplan*", OVERRIDE_FILE),
        )
        return target

    def init(self, root: Path) -> None:
        # The committed lock file must already hold what the mirror gives: readonly.
        self.check(["init", "-backend=false", "-lockfile=readonly", "-no-color"], root)

    def validate(self, root: Path) -> None:
        self.check(["validate", "-json", "-no-color"], root)

    def plan(self, root: Path, moto: MotoServer, name: str, *var_args: str) -> Plan:
        (root / OVERRIDE_FILE).write_text(moto_override(moto.endpoint))
        packages = self.home / "packages"
        write_placeholder_packages(packages)
        out = root / f"tfplan-{name}"
        self.check(
            [
                "plan",
                "-json",
                "-lock=false",
                "-no-color",
                "-var-file=envs/example.tfvars",
                f"-var=vpc_id={moto.network.vpc_id}",
                f"-var=private_subnet_ids={json.dumps(moto.network.subnet_ids)}",
                f"-var=lambda_package_dir={packages}",
                *var_args,
                f"-out={out.name}",
            ],
            root,
        )
        shown = self.check(["show", "-json", "-no-color", out.name], root)
        return Plan(json.loads(shown), root)


def write_placeholder_packages(directory: Path) -> None:
    """The zips the functions name (plan hashes them; their content does not matter)."""
    directory.mkdir(parents=True, exist_ok=True)
    for function in ("query_entry", "query_result", "stream_processor"):
        path = directory / f"{function}.zip"
        if not path.exists():
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("placeholder.txt", "plan only")


# ------------------------------------------------------------------------------------------
# moto
# ------------------------------------------------------------------------------------------

# Runs in its own interpreter, so its state is apart from the suite's mock_aws tests. The
# Powertools parameter lives under /aws/service/, which PutParameter refuses (as AWS does),
# so it is put into the backend directly.
_SERVER = """
import datetime, sys
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.ssm.models import Parameter, ssm_backends

account, region, name, value = sys.argv[1:5]
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
ssm_backends[account][region]._parameters[name].append(Parameter(
    account_id=account, name=name, value=value, parameter_type="String", description=None,
    allowed_pattern=None, keyid=None, last_modified_date=datetime.datetime.now(),
    version=1, data_type="text"))
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


@dataclass
class Network:
    vpc_id: str
    subnet_ids: list[str]


@dataclass
class MotoServer:
    process: subprocess.Popen[str]
    port: int
    network: Network = field(default_factory=lambda: Network("", []))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, powertools_parameter: str, powertools_layer_arn: str) -> MotoServer:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SERVER,
                MOTO_ACCOUNT,
                REGION,
                powertools_parameter,
                powertools_layer_arn,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            process.kill()
            _, err = process.communicate(timeout=10)
            raise AssertionError(f"moto server did not start: {line}{err[-2000:]}")
        server = cls(process, int(line))
        server.network = server.create_network()
        return server

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def create_network(self) -> Network:
        """A VPC with private subnets in two Availability Zones, as example.tfvars wants."""
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{zone}"
            )["Subnet"]["SubnetId"]
            for i, zone in enumerate("ab")
        ]
        return Network(vpc, subnets)

    def console_var(self) -> str:
        """``-var=console=...`` for a plan with the support console on: its OIDC client
        secret in Secrets Manager, staff reaching it from a security group and a prefix list
        (what a Client VPN endpoint and the offices' networks would be)."""
        secret = self.client("secretsmanager").create_secret(
            Name="query-service/console-oidc", SecretString="plan-client-secret"
        )["ARN"]
        ec2 = self.client("ec2")
        staff_group = ec2.create_security_group(
            GroupName="support-vpn", Description="Support staff VPN", VpcId=self.network.vpc_id
        )["GroupId"]
        offices = ec2.create_managed_prefix_list(
            PrefixListName="offices",
            MaxEntries=5,
            AddressFamily="IPv4",
            Entries=[{"Cidr": "10.99.0.0/16"}],
        )["PrefixList"]["PrefixListId"]
        issuer = "https://login.example.com"
        console = {
            "certificate_arn": f"arn:aws:acm:{REGION}:{MOTO_ACCOUNT}:certificate/plan",
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "user_info_endpoint": f"{issuer}/userinfo",
            "client_id": "query-service-console",
            "client_secret_arn": secret,
            "allowed_security_group_ids": [staff_group],
            "allowed_prefix_list_ids": [offices],
        }
        fields = ", ".join(f"{name} = {json.dumps(value)}" for name, value in console.items())
        return f"-var=console={{{fields}}}"

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


# ------------------------------------------------------------------------------------------
# The plan
# ------------------------------------------------------------------------------------------


@dataclass
class Resource:
    address: str
    type: str
    name: str
    index: Any
    module: str  # "" for the root, else "module.ecs" (or deeper)
    values: dict[str, Any]
    unknown: dict[str, Any]


class Plan:
    """``terraform show -json`` of a saved plan, resources by address."""

    def __init__(self, data: dict[str, Any], root: Path) -> None:
        self.data = data
        self.root = root
        self.resources: dict[str, Resource] = {}
        for change in data.get("resource_changes", []):
            if change.get("mode") != "managed":
                continue
            after = change["change"].get("after") or {}
            self.resources[change["address"]] = Resource(
                change["address"],
                change["type"],
                change["name"],
                change.get("index"),
                change.get("module_address", ""),
                after,
                change["change"].get("after_unknown") or {},
            )

    def __len__(self) -> int:
        return len(self.resources)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == type_]

    def one(self, type_: str, module: str = "", name: str | None = None) -> Resource:
        (found,) = [
            r
            for r in self.of_type(type_)
            if r.module == module and (name is None or r.name == name)
        ]
        return found

    def __getitem__(self, address: str) -> Resource:
        return self.resources[address]

    def actions(self) -> set[str]:
        return {a for c in self.data.get("resource_changes", []) for a in c["change"]["actions"]}

    def module_dir(self, module_address: str) -> Path:
        """The directory of ``module.a.module.b`` (following each call's source)."""
        directory = Path(".")
        config = self.data["configuration"]["root_module"]
        for call in re.findall(r"module\.([A-Za-z0-9_-]+)", module_address):
            spec = config["module_calls"][call]
            directory = directory / spec["source"]
            config = spec["module"]
        return directory

    def file_of(self, resource: Resource) -> str:
        """The file declaring ``resource``, as the repository names it."""
        directory = self.module_dir(resource.module)
        declaration = re.compile(rf'resource\s+"{resource.type}"\s+"{resource.name}"')
        for tf in sorted((self.root / directory).glob("*.tf")):
            if declaration.search(tf.read_text()):
                return repo_path(self.root, str(directory / tf.name))
        return repo_path(self.root, str(directory))

    def outputs(self) -> dict[str, Any]:
        return {
            k: v.get("value")
            for k, v in self.data.get("planned_values", {}).get("outputs", {}).items()
        }


def iter_global_names(plan: Plan) -> Iterator[tuple[str, Resource]]:
    for type_, attribute in GLOBAL_NAMES.items():
        for resource in plan.of_type(type_):
            name = resource.values.get(attribute)
            if isinstance(name, str):
                yield f"{type_} {name}", resource


def shared_global_names(first: Plan, second: Plan) -> list[str]:
    """Account-global names both plans create: the second apply would fail on each."""
    theirs = dict(iter_global_names(second))
    return [
        f"{first.file_of(resource)}: {resource.address} has the same {key} in both "
        "environments; put the environment in it"
        for key, resource in iter_global_names(first)
        if key in theirs
    ]


def security_group_description_problems(plan: Plan) -> list[str]:
    problems = []
    for type_ in DESCRIBED_EC2_TYPES:
        for resource in plan.of_type(type_):
            description = resource.values.get("description")
            if isinstance(description, str) and not EC2_DESCRIPTION.fullmatch(description):
                bad = sorted(set(EC2_DESCRIPTION.sub("", description)))
                problems.append(
                    f"{plan.file_of(resource)}: {resource.address} description "
                    f"{description!r} has characters EC2 refuses: {''.join(bad)!r}"
                )
    return problems
