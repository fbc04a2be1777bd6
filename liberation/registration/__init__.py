"""Register 2D maps (micro-XRF, SEM, label maps) into the 3D CT volume by mutual information.

Coordinate convention: the CT voxel ``(k, j, i)`` has its centre at ``(k*sz, j*sy, i*sx)`` µm;
the map pixel ``(r, c)`` at ``(0, r*p, c*p)`` µm in the map frame; a registration is the 4x4
affine ``matrix`` from map-frame (z, y, x) µm to CT (z, y, x) µm. See ``docs/registration.md``.

Main entry point: :func:`register_map`. Then :func:`labels_to_sparse` /
:func:`accumulate_sparse_labels` put label maps onto CT voxels, :func:`ct_on_map_grid` and
:func:`map_to_ct_section` resample between the two, :func:`qa_images` and
:func:`plot_registration_qa` show the result.
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
