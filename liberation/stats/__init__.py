"""Liberation statistics: particle-wise 3D composition, liberation, association, sizes, 2D sections.

Functions over arrays (numpy, dask or zarr) plus a voxel size in µm; no file I/O. The voxels
are read in one pass per statistic family (composition + faces + boxes; grain labelling;
section planes), block by block, so volumes larger than memory work, and the same code runs on a
Dask ``distributed.Client`` passed as ``client=``. Column names: ``docs/columns.md``.

Typical use::

    from liberation.stats import analyse
    result = analyse(particles, phases, voxel_size_um=10.0, minerals=minerals, target="spodumene",
                     size_classes_um=(63, 100, 250))
    result.particles          # particles.csv
    result.summary            # summary.json
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
