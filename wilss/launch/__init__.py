"""The launch layer: how steps get processes, signals and jobs (Slurm through submitit, or this machine).

Training code (`wilss.train` and below) never imports from here; it sees only torch's environment variables
and a `StopRequest`.
"""
