"""Input and output: the OME-Zarr sample store, TIFF stack import, dataset manifest.

Readers for micro-XRF element maps and SEM/MLA mineral maps are in
:mod:`liberation.io.xrf` and :mod:`liberation.io.sem`.
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__,  # noqa: E501
    # the dual-energy reader moved to the deploy wing (resolved by string: the core never imports deploy)
    deprecated={
        "dual_energy": "liberation.deploy.dual_energy.io",
        "read_dual_energy_folder": "liberation.deploy.dual_energy.io:read_dual_energy_folder",
        "write_dual_energy_folder": "liberation.deploy.dual_energy.io:write_dual_energy_folder",
    },
)
