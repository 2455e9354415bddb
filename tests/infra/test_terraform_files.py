"""The layout and habits of the terraform-aws-modules style, read from the HCL: every file
parses, every module has its four files, every variable is typed, described and used, the
version pins. What names something undeclared is terraform validate's to find
(test_terraform_plan.py, proven by test_terraform_breakage.py)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.infra.terraform import REPO, ROOT, TERRAFORM, Module, expressions, parse, stack

MODULES = ["dynamodb", "lambdas", "api_public", "api_internal", "ecs", "monitoring"]
SHARED = ["api_deployment"]  # called by api_public and api_internal
MODULE_FILES = {"main.tf", "variables.tf", "outputs.tf", "versions.tf"}

_VAR_REF = re.compile(r"(?<![\w.])var\.([A-Za-z0-9_]+)")


def all_tf_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))


@pytest.mark.parametrize("path", all_tf_files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path: Path) -> None:
    assert parse(path), f"{path} is empty"


def test_the_stack_has_the_six_modules_of_the_issue() -> None:
    assert sorted(m for m in stack().modules if m != ROOT) == sorted(MODULES + SHARED)
    sources = sorted(call["source"] for call in stack().root.calls.values())
    assert sources == sorted(f"./modules/{m}" for m in MODULES)


@pytest.mark.parametrize("name", [ROOT, *MODULES, *SHARED])
def test_module_layout(name: str) -> None:
    module = stack()[name]
    assert set(module.files) >= MODULE_FILES, f"{name} lacks {MODULE_FILES - set(module.files)}"
    assert module.outputs, f"{name} has no outputs"


@pytest.mark.parametrize("name", [ROOT, *MODULES, *SHARED])
def test_versions_pin_terraform_and_the_aws_provider(name: str) -> None:
    (block,) = stack()[name].files["versions.tf"]["terraform"]
    # 1.11: write-only arguments (the cursor secret). ~> 5.100: what the mirror and the
    # committed lock file hold, and no other provider (the mirror has no other).
    assert block["required_version"] == ">= 1.11"
    (providers,) = block["required_providers"]
    assert providers == {"aws": {"source": "hashicorp/aws", "version": "~> 5.100"}}


@pytest.mark.parametrize("name", [ROOT, *MODULES, *SHARED])
def test_every_variable_has_type_and_description_and_is_used(name: str) -> None:
    module = stack()[name]
    used = {ref for expr in _all_expressions(module) for ref in _VAR_REF.findall(expr)}
    for var_name, variable in module.variables.items():
        assert variable.get("type"), f"{name}: variable {var_name} has no type"
        assert len(variable.get("description", "")) > 10, f"{name}: {var_name} undescribed"
        assert var_name in used, f"{name}: variable {var_name} is declared but never used"


@pytest.mark.parametrize("name", [ROOT, *MODULES, *SHARED])
def test_every_output_has_a_description(name: str) -> None:
    for out_name, output in stack()[name].outputs.items():
        assert len(output.get("description", "")) > 10, f"{name}: output {out_name}"


def _all_expressions(module: Module) -> list[str]:
    return [e for parsed in module.files.values() for e in expressions(parsed)]


def test_root_inputs_named_by_the_issue() -> None:
    variables = stack().root.variables
    defaults = {
        "region": "ap-southeast-1",
        "cluster_name": "query-service-cluster",
        "service_name": "query-service",
    }
    for var_name, default in defaults.items():
        assert variables[var_name]["default"] == default
    for var_name in ("vpc_id", "private_subnet_ids", "image_uri", "environment", "tags"):
        assert var_name in variables


def test_example_tfvars_sets_real_values_for_declared_variables() -> None:
    values = parse(TERRAFORM / "envs" / "example.tfvars")
    variables = stack().root.variables
    assert set(values) <= set(variables), f"undeclared: {set(values) - set(variables)}"
    # An ephemeral variable (the cursor secret) comes from TF_VAR_, never from a file.
    required = {
        v for v, spec in variables.items() if "default" not in spec and not spec.get("ephemeral")
    }
    assert required <= set(values), f"example.tfvars misses {required - set(values)}"
    assert not {v for v in values if variables[v].get("ephemeral")}
    for name in ("region", "cluster_name", "service_name", "image_uri", "environment", "tags"):
        assert name in values
    assert values["cluster_name"] == "query-service-cluster"
    assert values["service_name"] == "query-service"
    assert len(values["private_subnet_ids"]) >= 2
    assert not values["image_uri"].endswith(":latest")


def test_powertools_layer_version_is_the_locked_one() -> None:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    (locked,) = [p["version"] for p in lock["package"] if p["name"] == "aws-lambda-powertools"]
    assert stack().root.variables["powertools_version"]["default"] == locked
