"""Several logical CPU devices in one process, and policies that say where each op should run.

    config = session_config(cpu_devices=2, soft_placement=True)        # /device:CPU:0 and CPU:1
    policy = scope_policy([("dense_1", "/device:CPU:1")])              # a device per name scope
    with graph.as_default(), graph.device(device_function(policy)):    # while building ...
        ...
    placed = place_graph_def(graph_def, round_robin_policy(graph_def, 2))   # ... or afterwards

A policy is a plain function from op name to a requested device (or None: no
request; the placer decides). Gradients follow their forward op: an op under
`gradients/dense_1/...` is placed as `dense_1/...` would be. Ops colocated with
a variable (`_class: loc:@var`, as optimizers make their update ops) follow the
variable, so a policy never splits a colocation group. What the policies set is
only a request: `graphkit.graphs.placement.placement_report` reads where the ops
actually ran.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from typing import Optional

from graphkit.errors import PlacementError
from graphkit.graphs.names import VARIABLE_OPS
from graphkit.graphs.placement import parse_device

DevicePolicy = Callable[[str], Optional[str]]

POLICIES = ("scope", "round-robin", "towers")
_GRADIENTS = re.compile(r"^gradients(?:_\d+)?/")
_TOWER = re.compile(r"(?:^|/)tower_(\d+)(?:/|$)")


def cpu_device(index: int) -> str:
    """The name of logical CPU device `index`: "/device:CPU:1"."""
    return f"/device:CPU:{index}"


def forward_name(name: str) -> str:
    """The forward op a gradient op belongs to: "gradients/dense/MatMul_grad/x" -> "dense/MatMul_grad/x"."""
    return _GRADIENTS.sub("", name, count=1)


def scope_policy(rules: Sequence[tuple[str, str]], default: Optional[str] = None) -> DevicePolicy:
    """A device per name-scope pattern: the first rule whose pattern matches the op wins.

    Args:
      rules: (pattern, device) pairs. A pattern is an fnmatch glob matched
        against the op's name (gradients stripped, see `forward_name`); it
        matches a scope's ops too: "dense_1" matches "dense_1/MatMul".
      default: device of the ops no rule matches (None: no request).
    Returns:
      a DevicePolicy.
    Raises:
      PlacementError: a device that is not a device name.
    """
    checked = []
    for pattern, device in rules:
        parse_device(device)
        checked.append((pattern, device))
    if default is not None:
        parse_device(default)

    def policy(name: str) -> Optional[str]:
        forward = forward_name(name)
        for pattern, device in checked:
            if fnmatch.fnmatchcase(forward, pattern) or fnmatch.fnmatchcase(forward, pattern + "/*"):
                return device
        return default

    return policy


def layer_scopes(graph_def) -> list[str]:
    """Top-level name scopes that hold a variable, in the order they first appear: the layers."""
    scopes = []
    for node in graph_def.node:
        if node.op in VARIABLE_OPS and "/" in node.name:
            scope = node.name.split("/", 1)[0]
            if scope not in scopes:
                scopes.append(scope)
    return scopes


def round_robin_policy(graph_def, devices: int) -> DevicePolicy:
    """Layers round-robin over `devices` CPU devices: layer k (see `layer_scopes`) on CPU:k mod devices.

    Raises:
      PlacementError: devices < 1, or the graph has no layer (no variable inside a scope).
    """
    _check_count(devices)
    scopes = layer_scopes(graph_def)
    if not scopes:
        raise PlacementError("round-robin: the graph has no layers (no variable inside a name scope) "
                             "to spread over devices")
    return scope_policy([(scope, cpu_device(k % devices)) for k, scope in enumerate(scopes)])


def towers_policy(graph_def, devices: int) -> DevicePolicy:
    """Tower k (ops under a `tower_<k>` scope, and their gradients) on CPU:k mod devices.

    Raises:
      PlacementError: devices < 1, or the graph has no `tower_<k>` scope.
    """
    _check_count(devices)
    if not any(_TOWER.search(node.name) for node in graph_def.node):
        raise PlacementError("towers: the graph has no tower_<k> name scopes; build it in towers "
                             "(e.g. build_hello_mnist(towers=N))")

    def policy(name: str) -> Optional[str]:
        match = _TOWER.search(forward_name(name))
        return cpu_device(int(match.group(1)) % devices) if match else None

    return policy


def policy_for(name: str, graph_def, devices: int, rules: Sequence[tuple[str, str]] = ()) -> DevicePolicy:
    """The policy called `name` (one of POLICIES) for this graph.

    Raises:
      PlacementError: an unknown policy name, or "scope" without rules.
    """
    if name == "scope":
        if not rules:
            raise PlacementError("scope: expected at least one PATTERN=DEVICE rule, got none")
        return scope_policy(rules)
    if name == "round-robin":
        return round_robin_policy(graph_def, devices)
    if name == "towers":
        return towers_policy(graph_def, devices)
    raise PlacementError(f"policy: expected one of {', '.join(POLICIES)}, got {name!r}")


def parse_rule(text: str) -> tuple[str, str]:
    """A "PATTERN=DEVICE" rule; DEVICE is a device name or a CPU index ("dense_1=1").

    Raises:
      PlacementError: no "=", an empty pattern, or a device that is not a device name.
    """
    pattern, sep, device = text.partition("=")
    if not sep or not pattern.strip() or not device.strip():
        raise PlacementError(f"rule {text!r}: expected PATTERN=DEVICE, e.g. dense_1=/device:CPU:1 "
                             "or dense_1=1")
    device = device.strip()
    if device.isdigit():
        device = cpu_device(int(device))
    parse_device(device)
    return pattern.strip(), device


def device_function(policy: DevicePolicy) -> Callable:
    """A device function for `graph.device` / `tf.compat.v1.device` (TF2's `tf.device` takes no
    functions): the policy's device, else the op's own request."""
    def choose(op) -> str:
        return policy(op.name) or op.device

    return choose


def place_graph_def(graph_def, policy: DevicePolicy):
    """A copy of `graph_def` whose ops request the policy's devices.

    Ops the policy has no device for keep their request. An op colocated with
    another (`_class: loc:@name`) takes that op's device, so colocation groups stay whole.

    Returns:
      a new GraphDef.
    """
    placed = type(graph_def)()
    placed.CopyFrom(graph_def)
    for node in placed.node:
        device = policy(node.name)
        if device:
            node.device = device
    devices = {node.name: node.device for node in placed.node}
    for node in placed.node:
        group = _colocated_with(node)
        if group and group in devices and devices[group] != node.device:
            node.device = devices[group]
    return placed


def check_devices(graph_def, available: Sequence[str], soft_placement: bool) -> None:
    """Checks every requested device of `graph_def` against the process's devices.

    Args:
      available: full names of the process's devices (Session.list_devices()).
      soft_placement: when True a request for a device the process lacks is
        allowed (TensorFlow places that op elsewhere); it must still parse.
    Raises:
      PlacementError: a request that does not parse, or (without soft placement)
        that no device of the process satisfies; the message names the op.
    """
    parsed = [parse_device(name) for name in available]
    checked = {}
    for node in graph_def.node:
        if not node.device or node.device in checked:
            continue
        wanted = parse_device(node.device)
        checked[node.device] = True
        if soft_placement:
            continue
        if not any(_satisfies(wanted, have) for have in parsed):
            have = ", ".join(_short(fields) for fields in parsed)
            raise PlacementError(f"{node.name}: requested device {node.device} does not exist; this process "
                                 f"has {have} (soft placement would run the op elsewhere)")


def _satisfies(wanted: dict, have: dict) -> bool:
    for field, value in wanted.items():
        if value is None or value == "*":
            continue
        if have.get(field) != value:
            return False
    return True


def _short(fields: dict) -> str:
    return f"{fields['type']}:{fields['index']}"


def _colocated_with(node) -> str:
    if "_class" not in node.attr:
        return ""
    for value in node.attr["_class"].list.s:
        text = value.decode()
        if text.startswith("loc:@"):
            return text[len("loc:@"):]
    return ""


def _check_count(devices: int) -> None:
    if not isinstance(devices, int) or devices < 1:
        raise PlacementError(f"devices: expected an int >= 1, got {devices!r}")
