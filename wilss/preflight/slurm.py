"""Slurm as `wilss submit` will use it: the commands reachable, the partition there, the resources on its nodes."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from omegaconf import DictConfig

from wilss.preflight.skip import Skipped
from wilss.preflight.steps import runs_here

COMMANDS = ("sbatch", "squeue", "sacct", "scontrol", "sinfo")
GPU_GRES = re.compile(r"gpu(?::[^:,()]+)?:(\d+)")


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    memory_mb: int
    gpus: int


def _slurm(args: list[str]) -> tuple[int, str]:
    """(exit status, stdout or stderr) of a Slurm command, time-boxed (clients retry while the controller is down)."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return 124, "no answer within 30 s"
    return done.returncode, (done.stdout if done.returncode == 0 else done.stderr).strip()


def partitions() -> tuple[list[str], str | None]:
    """The partitions and the default one (sinfo marks it with '*')."""
    status, out = _slurm(["sinfo", "-h", "-o", "%P"])
    names = out.split() if status == 0 else []
    default = next((name.rstrip("*") for name in names if name.endswith("*")), None)
    return [name.rstrip("*") for name in names], default


def nodes(partition: str) -> list[Node]:
    status, out = _slurm(["sinfo", "-h", "-N", "-p", partition, "-o", "%N %c %m %G"])
    found = {}
    for line in out.splitlines() if status == 0 else []:
        name, cpus, memory, gres = line.split(maxsplit=3)
        gpus = sum(int(count) for count in GPU_GRES.findall(gres))
        found[name] = Node(name, int(cpus.rstrip("+")), int(memory.rstrip("+")), gpus)
    return list(found.values())


def fits(node: Node, launch: DictConfig) -> bool:
    return (node.cpus >= launch.tasks_per_node * launch.cpus_per_task and node.gpus >= launch.gpus_per_node
            and (launch.mem_gb is None or node.memory_mb >= launch.mem_gb * 1024))


def resource_problems(launch: DictConfig, partition: str) -> list[str]:
    available = nodes(partition)
    fitting = [node for node in available if fits(node, launch)]
    if len(fitting) >= launch.nodes:
        return []
    largest = max(available, key=lambda n: (n.gpus, n.cpus, n.memory_mb), default=None)
    has = (f"its largest node {largest.name} has {largest.cpus} CPUs, {largest.memory_mb // 1024} GB, {largest.gpus} "
           f"GPU(s)" if largest else "it has no nodes")
    return [f"launch asks for {launch.nodes} node(s) with {launch.tasks_per_node * launch.cpus_per_task} CPUs "
            f"(tasks_per_node x cpus_per_task), {launch.gpus_per_node} GPU(s) and "
            f"{'any memory' if launch.mem_gb is None else f'{launch.mem_gb} GB'} each; partition {partition} has "
            f"{len(fitting)} such node(s), {has}: lower launch.tasks_per_node / cpus_per_task / gpus_per_node / "
            f"mem_gb or choose another launch.partition"]


def problems(cfg: DictConfig) -> list[str]:
    if runs_here(cfg):
        raise Skipped("the run starts on this machine (cluster=local, or auto without Slurm): nothing is queued")
    missing = [name for name in COMMANDS if shutil.which(name) is None]
    if missing:
        return [f"cluster={cfg.cluster} but {', '.join(missing)} not on PATH: run on a login node (module load "
                f"slurm), or use cluster=local to run here"]
    status, out = _slurm(["sacct", "-n", "-X", "-o", "JobID", "-S", "now"])
    if status != 0:
        return [f"sacct fails ({out}): wilss submit and status read job states from Slurm's accounting; ask the "
                f"cluster's admins to enable it"]
    names, default = partitions()
    partition = cfg.launch.partition or default
    if partition is None:
        return [f"no launch.partition given and the cluster has no default partition: set launch.partition to one "
                f"of {', '.join(names)}"]
    if partition not in names:
        return [f"launch.partition={partition} does not exist on this cluster: choose one of {', '.join(names)}"]
    return resource_problems(cfg.launch, partition)
