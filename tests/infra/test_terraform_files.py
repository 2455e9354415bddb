"""What ``terraform validate`` would catch, without Terraform: every file parses, every
reference names something declared, every module input exists, the layout and the
version pins of the terraform-aws-modules style hold."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.infra.terraform import REPO, ROOT, TERRAFORM, Module, expressions, parse, stack

MODULES = ["dynamodb", "lambdas", "api_public", "api_internal", "ecs", "monitoring"]
MODULE_FILES = {"main.tf", "variables.tf", "outputs.tf", "versions.tf"}
# Arguments of a module block that are Terraform's, not the module's inputs.
META_ARGUMENTS = {"source", "version", "depends_on", "providers", "count", "for_each"}

_RESOURCE_REF = re.compile(r"(?<![\w.])((?:aws|random)_[a-z0-9_]+)\.([a-z0-9_]+)")
_DATA_REF = re.compile(r"(?<![\w.])data\.([a-z0-9_]+)\.([a-z0-9_]+)")
_VAR_REF = re.compile(r"(?<![\w.])var\.([A-Za-z0-9_]+)")
_LOCAL_REF = re.compile(r"(?<![\w.])local\.([A-Za-z0-9_]+)")
_MODULE_REF = re.compile(r"(?<![\w.])module\.([a-z0-9_]+)\.([a-z0-9_]+)")


def all_tf_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))


@pytest.mark.parametrize("path", all_tf_files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path: Path) -> None:
    assert parse(path), f"{path} is empty"


def test_the_stack_has_the_six_modules_of_the_issue() -> None:
    assert sorted(m for m in stack().modules if m != ROOT) == sorted(MODULES)
    sources = sorted(call["source"] for call in stack().root.calls.values())
    assert sources == sorted(f"./modules/{m}" for m in MODULES)


@pytest.mark.parametrize("name", [ROOT, *MODULES])
def test_module_layout(name: str) -> None:
    module = stack()[name]
    assert set(module.files) >= MODULE_FILES, f"{name} lacks {MODULE_FILES - set(module.files)}"
    assert module.outputs, f"{name} has no outputs"


@pytest.mark.parametrize("name", [ROOT, *MODULES])
def test_versions_pin_terraform_and_the_aws_provider(name: str) -> None:
    (block,) = stack()[name].files["versions.tf"]["terraform"]
    assert block["required_version"] == ">= 1.5"
    (providers,) = block["required_providers"]
    assert providers["aws"] == {"source": "hashicorp/aws", "version": ">= 5.0"}


@pytest.mark.parametrize("name", [ROOT, *MODULES])
def test_every_variable_has_type_and_description_and_is_used(name: str) -> None:
    module = stack()[name]
    used = {ref for expr in _all_expressions(module) for ref in _VAR_REF.findall(expr)}
    for var_name, variable in module.variables.items():
        assert variable.get("type"), f"{name}: variable {var_name} has no type"
        assert len(variable.get("description", "")) > 10, f"{name}: {var_name} undescribed"
        assert var_name in used, f"{name}: variable {var_name} is declared but never used"


@pytest.mark.parametrize("name", [ROOT, *MODULES])
def test_every_output_has_a_description(name: str) -> None:
    for out_name, output in stack()[name].outputs.items():
        assert len(output.get("description", "")) > 10, f"{name}: output {out_name}"


def _all_expressions(module: Module) -> list[str]:
    return [e for parsed in module.files.values() for e in expressions(parsed)]


@pytest.mark.parametrize("name", [ROOT, *MODULES])
def test_every_reference_names_something_declared(name: str) -> None:
    module = stack()[name]
    missing: set[str] = set()
    for expr in _all_expressions(module):
        for type_, res in _RESOURCE_REF.findall(expr):
            if res not in module.resources.get(type_, {}):
                missing.add(f"{type_}.{res}")
        for type_, res in _DATA_REF.findall(expr):
            if res not in module.data.get(type_, {}):
                missing.add(f"data.{type_}.{res}")
        missing |= {f"var.{v}" for v in _VAR_REF.findall(expr) if v not in module.variables}
        missing |= {f"local.{v}" for v in _LOCAL_REF.findall(expr) if v not in module.locals}
        for call, output in _MODULE_REF.findall(expr):
            source = module.calls.get(call, {}).get("source", "")
            child = stack().modules.get(source.removeprefix("./modules/"))
            if child is None or output not in child.outputs:
                missing.add(f"module.{call}.{output}")
    assert not missing, f"{name} refers to undeclared {sorted(missing)}"


@pytest.mark.parametrize("name", MODULES)
def test_the_root_passes_exactly_the_inputs_a_module_declares(name: str) -> None:
    call = stack().call_of(name)
    child = stack()[name]
    passed = set(call) - META_ARGUMENTS
    assert passed <= set(child.variables), f"unknown inputs {passed - set(child.variables)}"
    required = {v for v, spec in child.variables.items() if "default" not in spec}
    assert required <= passed, f"{name} needs {required - passed}"


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
    required = {v for v, spec in variables.items() if "default" not in spec}
    assert required <= set(values), f"example.tfvars misses {required - set(values)}"
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
