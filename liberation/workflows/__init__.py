"""Workflows: the glue between the command line and the science core.

Each workflow is a function with keyword-only options that reads and writes the files
of one step (sample store, report folder, model folder, label folder) and returns a
result object or a path. Workflows print nothing: notes that matter for the results
are returned (and logged through :mod:`logging`), progress notes go through
``liberation._progress``. The ``liberation`` command is a thin layer over them, and
scripts and notebooks call them directly::

    from liberation.workflows import run_report

    run = run_report("sample.zarr", "sample_report", target="spodumene")
    print(run.folder, run.result.summary["liberated_fraction_3d"])

No module here imports click. Modules:

- :mod:`~liberation.workflows.store` -- convert a TIFF stack, describe a store, datasets
- :mod:`~liberation.workflows.report_store` -- the liberation report of a store
- :mod:`~liberation.workflows.demo` -- the synthetic demo sample and its report
- :mod:`~liberation.workflows.labels` -- label folders from micro-XRF or SEM/MLA maps
- :mod:`~liberation.workflows.register` -- a 2D map registered into the store's CT
- :mod:`~liberation.workflows.segment` -- train a model on a store, segment a store
- :mod:`~liberation.workflows.evaluate` -- a phase model on labelled planes of a store
- :mod:`~liberation.workflows.pipeline` -- the whole correlative chain on a synthetic sample
- :mod:`~liberation.workflows.cluster` -- a Dask distributed client for ``--workers`` / ``--scheduler``
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
