"""Measure the kit side by side: `python -m wilss.bench [--backbone resnet101 --crop 256 --batch 2 ...]`.

Every measurement runs in a fresh worker process (so peak memory is that path's own), and the two paths
alternate run by run, so a slow phase of a shared machine hits both; the report gives medians and ratios.

- `train0`, `train1`: step-0 and WILSON step-1 iterations/s (forward, losses, backward, optimizer step on a
  fixed batch), the kit's fast path (`train.precision=auto`: bf16 autocast on CPU, fp16 on CUDA;
  `train.channels_last=true`) vs eager fp32 NCHW (the reference code's way); peak memory of each.
- `data`: the data pipeline alone (decode + joint augmentation + collate) with one worker, images/s, vs what
  the demo model consumes (its fast-path training images/s).
- `eval`: evaluation images/s per path.
- `checkpoint`: saving step 1's resume checkpoint: seconds and size, and its share of the time between two
  checkpoints at the default `train.checkpoint_interval`.
- `resume`: process start → first iteration, for a cold start and for a restart that resumes from `last.pt`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

PATHS = {"fast": ["train.precision=auto", "train.channels_last=true"],
         "eager": ["train.precision=fp32", "train.channels_last=false", "optim.fused=false",
                   "train.cast_frozen_model=false", "train.fold_frozen_norms=false", "train.prepack_frozen_model=false",
                   "train.trim_padding_taps=false", "train.inference_mode=false"]}
PARTS = ("train0", "train1", "data", "eval", "checkpoint", "resume")


# --------------------------------------------------------------------------------------------------------------
# Workers: each measures one thing in its own process and prints one JSON line.
# --------------------------------------------------------------------------------------------------------------

def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_trainer(cfg):
    """A step's trainer exactly as `wilss.train` builds it, and one training batch."""
    from wilss import distributed
    from wilss.engine.runtime import resolve_runtime
    from wilss.spec import resolve
    from wilss.train import build_trainer as build_step_trainer
    from wilss.train import load_step_checkpoints

    dist = distributed.init_distributed(cfg.train.device)
    torch.manual_seed(cfg.seed)
    step = resolve(cfg).current
    previous = load_step_checkpoints(cfg, step).previous
    run = resolve_runtime(cfg.train, cfg.model, dist.device, dist.world_size)
    trainer = build_step_trainer(cfg, step, dist, run, previous)
    trainer.sampler.set_epoch(0)
    return trainer, next(iter(trainer.loader))


def time_training(cfg, steps: int, warmup: int = 2) -> dict:
    trainer, batch = build_trainer(cfg)
    for _ in range(warmup):
        trainer.run_iteration(batch)
    synchronize(trainer.device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.run_iteration(batch)
    synchronize(trainer.device)
    seconds = (time.perf_counter() - start) / steps
    return {"seconds_per_iter": seconds, "images_per_s": cfg.train.batch_size / seconds,
            "peak_memory_mb": peak_memory_mb(trainer.device),
            "losses": {name: float(value) for name, value in trainer.losses.items()}}


def time_data(cfg, batches: int) -> dict:
    from wilss.data.build import build_train_dataset
    from wilss.data.sampler import ShardSampler
    from wilss.spec import resolve

    train_set = build_train_dataset(cfg.dataset, resolve(cfg).current.task, cfg.overlap)
    sampler = ShardSampler(len(train_set), 0, 1, cfg.seed, cfg.train.batch_size)
    loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.train.batch_size, sampler=sampler,
                                         num_workers=1, persistent_workers=True)
    images, epoch = 0, 0
    iterator = iter(loader)
    next(iterator)  # the worker's start-up is not throughput
    start = time.perf_counter()
    while images < batches * cfg.train.batch_size:
        try:
            images += len(next(iterator)["image"])
        except StopIteration:
            epoch += 1
            sampler.set_epoch(epoch)
            iterator = iter(loader)
    return {"images_per_s": images / (time.perf_counter() - start)}


def time_eval(cfg) -> dict:
    from wilss import distributed
    from wilss.data.build import build_eval_datasets
    from wilss.engine.evaluate import eval_loader, evaluate
    from wilss.engine.runtime import resolve_runtime
    from wilss.spec import resolve
    from wilss.train import build_step_model

    dist = distributed.init_distributed(cfg.train.device)
    step = resolve(cfg).current
    task, run = step.task, resolve_runtime(cfg.train, cfg.model, dist.device, dist.world_size)
    model = build_step_model(step.model, run)
    loader = eval_loader(build_eval_datasets(cfg.dataset, task, "parity")["val"], dist, cfg.train.batch_size, 0)
    evaluate(model, loader, len(task.order), run.device, run.precision, run.channels_last)  # warm-up pass
    start = time.perf_counter()
    evaluate(model, loader, len(task.order), run.device, run.precision, run.channels_last)
    return {"images_per_s": len(loader.dataset) / (time.perf_counter() - start)}


def time_checkpoint(cfg, directory: Path) -> dict:
    from wilss.checkpoint import save_checkpoint

    trainer, batch = build_trainer(cfg)
    trainer.run_iteration(batch)  # optimizer state exists, as in a real resume checkpoint
    path = directory / "last.pt"
    start = time.perf_counter()
    save_checkpoint(path, trainer.resume_state(), {"bench": True})
    return {"seconds": time.perf_counter() - start, "megabytes": path.stat().st_size / 2**20}


def time_to_first_iteration(cfg, started: float) -> dict:
    """Run the real step until its first iteration is done and checkpointed (a stop requested from the start)."""
    from wilss.engine.interrupt import StopRequest, TrainingInterrupted
    from wilss.train import main as train_step

    stop = StopRequest()
    stop.request("benchmark")
    try:
        train_step(cfg, stop)
    except TrainingInterrupted:
        return {"seconds": time.time() - started}
    raise RuntimeError("the step finished before its first iteration was measured")


def worker(args: argparse.Namespace) -> None:
    from wilss.config import load_config

    cfg = load_config(args.overrides)
    if args.part in ("train0", "train1", "demo"):
        result = time_training(cfg, args.steps)
    elif args.part == "data":
        result = time_data(cfg, args.steps * 4)
    elif args.part == "eval":
        result = time_eval(cfg)
    elif args.part == "checkpoint":
        result = time_checkpoint(cfg, Path(args.work))
    else:
        result = time_to_first_iteration(cfg, args.started)
    print("BENCH " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------------------------

def base_overrides(args: argparse.Namespace, work: Path) -> list[str]:
    return ["dataset=synthetic", f"model={args.backbone}", "model.pretrained=null", f"dataset.crop_size={args.crop}",
            f"dataset.crop_size_val={args.crop}", f"dataset.generate.size={args.crop}", "dataset.generate.train=64",
            "dataset.generate.val=8", f"train.batch_size={args.batch}", "train.num_workers=0",
            f"train.device={args.device}", "train.loggers=[]", "method.pseudo_ep=0",
            f"output_root={work}", f"run_dir={work / 'run'}"]


def run_worker(part: str, overrides: list[str], args: argparse.Namespace, work: Path) -> dict:
    command = [sys.executable, "-m", "wilss.bench", "--worker", part, "--steps", str(args.steps),
               "--work", str(work), "--started", repr(time.time()), "--", *overrides]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode or not lines:
        raise SystemExit(f"benchmark worker '{part}' failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][6:])


def make_step0_checkpoint(base: list[str], work: Path) -> Path:
    """Step 1 starts from a step-0 `final.pt`; its weights do not matter for speed, so train none."""
    from wilss.checkpoint import run_meta, save_checkpoint
    from wilss.config import load_config
    from wilss.engine.runtime import PLAIN_CPU
    from wilss.spec import resolve
    from wilss.train import build_step_model

    cfg = load_config([*base, "step=0"])
    step = resolve(cfg).current
    model = build_step_model(step.model, PLAIN_CPU)
    path = work / "step0-final.pt"
    save_checkpoint(path, {"modules": {"model": model.state_dict()}}, run_meta(step.task, cfg.overlap, cfg.model))
    return path


def alternate(part: str, overrides: dict[str, list[str]], args, work: Path) -> dict[str, list[dict]]:
    """Each path `repeats` times, the order swapped every round."""
    runs: dict[str, list[dict]] = {name: [] for name in overrides}
    names = list(overrides)
    for round_index in range(args.repeats):
        for name in names if round_index % 2 == 0 else names[::-1]:
            runs[name].append(run_worker(part, overrides[name], args, work))
    return runs


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def measure(args: argparse.Namespace, work: Path) -> dict:
    base = base_overrides(args, work)
    results: dict = {}
    step0 = make_step0_checkpoint(base, work) if {"train1", "checkpoint"} & set(args.parts) else None
    paths = PATHS | ({"compiled": [*PATHS["fast"], "train.compile=true"]} if args.compile else {})
    for part in ("train0", "train1"):
        if part in args.parts:
            step = ["step=0"] if part == "train0" else ["step=1", f"step_ckpt={step0}"]
            runs = alternate(part, {name: [*base, *flags, *step] for name, flags in paths.items()}, args, work)
            results[part] = {name: {"seconds_per_iter": median(r, "seconds_per_iter"),
                                    "images_per_s": median(r, "images_per_s"),
                                    "peak_memory_mb": max(run["peak_memory_mb"] for run in r)}
                             for name, r in runs.items()}
            results[part]["speedup"] = (results[part]["eager"]["seconds_per_iter"]
                                        / results[part]["fast"]["seconds_per_iter"])
    if "data" in args.parts:
        demo = ["experiment=demo", "train.num_workers=0", f"output_root={work}", f"run_dir={work / 'demo'}",
                f"train.device={args.device}"]
        runs = alternate("data", {"data": demo}, args, work)
        consumed = alternate("demo", {"demo": [*demo, *PATHS["fast"]]}, args, work)
        results["data"] = {"one_worker_images_per_s": median(runs["data"], "images_per_s"),
                           "demo_model_images_per_s": median(consumed["demo"], "images_per_s")}
        results["data"]["ratio"] = results["data"]["one_worker_images_per_s"] / results["data"]["demo_model_images_per_s"]
    if "eval" in args.parts:
        runs = alternate("eval", {name: [*base, *flags, "step=0"] for name, flags in PATHS.items()}, args, work)
        results["eval"] = {name: {"images_per_s": median(r, "images_per_s")} for name, r in runs.items()}
    if "checkpoint" in args.parts:
        runs = alternate("checkpoint", {"fast": [*base, *PATHS["fast"], "step=1", f"step_ckpt={step0}"]}, args, work)
        seconds = median(runs["fast"], "seconds")
        interval = 200  # train.checkpoint_interval's default
        iteration = results.get("train1", {}).get("fast", {}).get("seconds_per_iter")
        results["checkpoint"] = {"seconds": seconds, "megabytes": runs["fast"][0]["megabytes"],
                                 "share_of_interval": seconds / (interval * iteration) if iteration else None}
    if "resume" in args.parts:
        results["resume"] = measure_resume(args, base, work)
    return results


def measure_resume(args: argparse.Namespace, base: list[str], work: Path) -> dict:
    """Cold start (a new run directory) vs restart (the same directory: resume from `last.pt`), alternated."""
    common = [*base, *PATHS["fast"], "step=0", "train.epochs_base=1000"]
    cold, resumed = [], []
    run_worker("resume", [*common, f"run_dir={work / 'resume-warmup'}"], args, work)  # fills the caches
    for index in range(args.repeats):
        run_dir = work / f"resume-{index}"
        cold.append(run_worker("resume", [*common, f"run_dir={run_dir}"], args, work)["seconds"])
        resumed.append(run_worker("resume", [*common, f"run_dir={run_dir}"], args, work)["seconds"])
    result = {"cold_start_s": statistics.median(cold), "resume_s": statistics.median(resumed)}
    result["ratio"] = result["resume_s"] / result["cold_start_s"]
    return result


def render(results: dict, args: argparse.Namespace) -> str:
    lines = [f"wilss.bench: {args.backbone}, crop {args.crop}, batch {args.batch}, {args.steps} timed iterations, "
             f"{args.repeats} alternating runs per path, device {args.device}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads", "", "| measurement | eager fp32 NCHW | fast path | ratio |",
             "|---|---|---|---|"]
    for part, label in (("train0", "step-0 training"), ("train1", "step-1 (WILSON) training")):
        if part in results:
            r = results[part]
            lines.append(f"| {label}, s/iteration | {r['eager']['seconds_per_iter']:.3f} | "
                         f"{r['fast']['seconds_per_iter']:.3f} | {r['speedup']:.2f}x faster |")
            lines.append(f"| {label}, peak memory MB | {r['eager']['peak_memory_mb']:.0f} | "
                         f"{r['fast']['peak_memory_mb']:.0f} | "
                         f"{r['fast']['peak_memory_mb'] / r['eager']['peak_memory_mb']:.2f} |")
            if "compiled" in r:
                lines.append(f"| {label}, fast path + torch.compile, s/iteration | – | "
                             f"{r['compiled']['seconds_per_iter']:.3f} | "
                             f"{r['eager']['seconds_per_iter'] / r['compiled']['seconds_per_iter']:.2f}x faster |")
    if "eval" in results:
        e = results["eval"]
        lines.append(f"| evaluation, images/s | {e['eager']['images_per_s']:.2f} | {e['fast']['images_per_s']:.2f} | "
                     f"{e['fast']['images_per_s'] / e['eager']['images_per_s']:.2f}x |")
    if "data" in results:
        d = results["data"]
        lines.append(f"| data pipeline, 1 worker vs demo model, images/s | {d['demo_model_images_per_s']:.1f} "
                     f"consumed | {d['one_worker_images_per_s']:.1f} delivered | {d['ratio']:.2f}x |")
    if "checkpoint" in results:
        c = results["checkpoint"]
        share = "–" if c["share_of_interval"] is None else f"{100 * c['share_of_interval']:.2f} % of 200 iterations"
        lines.append(f"| step-1 checkpoint save | – | {c['seconds']:.2f} s, {c['megabytes']:.0f} MB | {share} |")
    if "resume" in results:
        r = results["resume"]
        lines.append(f"| process start → first iteration | {r['cold_start_s']:.1f} s cold | {r['resume_s']:.1f} s "
                     f"resumed | {r['ratio']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet101")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed iterations per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per path, alternating")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--compile", action="store_true", help="also measure the fast path under torch.compile")
    parser.add_argument("--json", type=Path, default=Path("outputs/bench.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.part = args.worker
        worker(args)
        return
    args.parts = args.parts.split(",")
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown --parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    with tempfile.TemporaryDirectory(prefix="wilss-bench-") as tmp:
        results = measure(args, Path(tmp))
    report = render(results, args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"settings": {k: v for k, v in vars(args).items() if k != "json"} |
                                     {"torch": torch.__version__}, "results": results}, indent=2, default=str))
    print(report)


if __name__ == "__main__":
    main()
