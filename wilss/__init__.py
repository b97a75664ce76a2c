"""wilss: weakly-supervised incremental semantic segmentation (WILSON, Web-WILSS) as an HPC job kit."""

__version__ = "0.1.0"
