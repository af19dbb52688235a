"""What one trial asks of a node, checked against the cluster's nodes before any trial starts.

Ray places a trial on a single node and leaves one that no node can hold
PENDING forever, without a word. The study checks first and stops with the
size of the largest node instead. Pure Python over `ray.nodes()`: no TensorFlow.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from vae_tune.config import WHOLE_NODE, StudyConfig, check_batch_split
from vae_tune.log import logger


class ClusterError(RuntimeError):
    """The Ray cluster cannot be reached or cannot run the study's trials; the message says why."""


@dataclass(frozen=True)
class Node:
    address: str
    cpus: float
    gpus: float

    def __str__(self) -> str:
        return f"{self.address} ({self.cpus:g} CPU, {self.gpus:g} GPU)"


def alive_nodes(ray_nodes: list[dict[str, Any]]) -> list[Node]:
    """The live nodes of `ray.nodes()`, with their total (not currently free) CPUs and GPUs."""
    return [
        Node(node["NodeManagerAddress"], node["Resources"].get("CPU", 0.0), node["Resources"].get("GPU", 0.0))
        for node in ray_nodes
        if node["Alive"]
    ]


def _fits(node: Node, request: dict[str, float]) -> bool:
    return node.cpus >= request["cpu"] and node.gpus >= request["gpu"]


def trial_request(study: StudyConfig, nodes: list[Node]) -> dict[str, float]:
    """{"cpu": c, "gpu": g} for one trial, "node" resolved to the largest GPU count of a node.

    Raises ClusterError, naming the largest node, when no node can hold one trial.
    """
    resources = study.resources
    largest = max(nodes, key=lambda node: (node.gpus, node.cpus), default=Node("no node", 0.0, 0.0))
    gpus = resources.gpus_per_trial
    if gpus == WHOLE_NODE:
        gpus = largest.gpus
        if gpus == 0:
            raise ClusterError(f'resources.gpus_per_trial = "{WHOLE_NODE}": no node has a GPU; the largest node is {largest}')
    request = {"cpu": float(resources.cpus_per_trial), "gpu": float(gpus)}
    if not any(_fits(node, request) for node in nodes):
        raise ClusterError(
            f"resources: a trial needs {request['cpu']:g} CPU and {request['gpu']:g} GPU on one node, but the largest "
            f"node is {largest}; Ray would leave every trial pending. Lower resources.cpus_per_trial or "
            f"resources.gpus_per_trial, or add bigger nodes"
        )
    if request["gpu"] >= 2:  # MirroredStrategy over that many GPUs: every batch must split evenly
        space = study.search.space.get("batch_size")
        for batch_size in space.values if space else (study.training.batch_size,):
            check_batch_split(batch_size, int(request["gpu"]))
    return request


def trials_at_once(request: dict[str, float], nodes: list[Node]) -> int:
    """How many trials the nodes hold side by side."""

    def per_node(node: Node) -> int:
        share = [node.cpus / request["cpu"]] + ([node.gpus / request["gpu"]] if request["gpu"] else [])
        return math.floor(min(share) + 1e-9)  # 1e-9: 1 / 0.1 * 0.1 is not quite 1

    return sum(per_node(node) for node in nodes)


def await_trial_request(study: StudyConfig, read_nodes, poll_seconds: float = 5.0) -> tuple[dict[str, float], list[Node]]:
    """`trial_request` against the nodes `read_nodes()` returns, waiting up to resources.node_wait_seconds.

    Autoscaled GPU workers join minutes after the head; waiting for them beats
    failing a study submitted right after `ray up`.
    """
    deadline = time.monotonic() + study.resources.node_wait_seconds
    announced = False
    while True:
        nodes = read_nodes()
        try:
            return trial_request(study, nodes), nodes
        except ClusterError as error:
            if time.monotonic() + poll_seconds > deadline:
                raise
            if not announced:
                logger.info(f"waiting up to {study.resources.node_wait_seconds:g}s for nodes: {error}")
                announced = True
            time.sleep(poll_seconds)
