"""`python -m wilss`: what the kit offers (the container image's default command)."""

COMMANDS = """wilss: weakly-supervised incremental semantic segmentation (WILSON, Web-WILSS).

  python -m wilss.chain   [overrides]   train every step of a task here, then print the paper's table
  python -m wilss.train   [overrides]   train one step (torchrun for several GPUs)
  python -m wilss.submit  [overrides]   queue the chain on Slurm (cluster=slurm) or run it here (cluster=local)
  python -m wilss.status  RUN_DIR       one line per step: job, restarts, progress, metrics, checkpoint
  python -m wilss.doctor  [--inplace-abn]  torch, CUDA, GPUs and the InPlace-ABN build

Try: python -m wilss.chain experiment=demo      (synthetic data, CPU, a few minutes)
Every command takes -h. Overrides are Hydra's key=value; see README.md.
"""

if __name__ == "__main__":
    print(COMMANDS)
