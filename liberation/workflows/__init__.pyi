"""Type stub of liberation.workflows: the public names, resolved lazily at run time (lazy_loader.attach_stub)."""

# Submodules, reachable as attributes (not in __all__).
from . import cluster as cluster
from . import demo as demo
from . import evaluate as evaluate
from . import labels as labels
from . import pipeline as pipeline
from . import register as register
from . import report_fractions as report_fractions
from . import report_store as report_store
from . import segment as segment
from . import store as store
from .cluster import dask_client
from .demo import make_demo_store, run_demo
from .evaluate import evaluate_model
from .labels import sem_label_folder, xrf_label_folder
from .pipeline import run_pipeline
from .register import register_map_file
from .report_fractions import run_fraction_report
from .report_store import pick_slices, run_report, summary_lines
from .segment import segment_store, train_store_model
from .store import convert_stack, describe_store, set_sieve_fraction

__all__ = [
    "convert_stack",
    "dask_client",
    "describe_store",
    "evaluate_model",
    "make_demo_store",
    "pick_slices",
    "register_map_file",
    "run_demo",
    "run_fraction_report",
    "run_pipeline",
    "run_report",
    "segment_store",
    "sem_label_folder",
    "set_sieve_fraction",
    "summary_lines",
    "train_store_model",
    "xrf_label_folder",
]
