import os

os.environ.setdefault("LIBERATION_PROGRESS", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402  (the environment above is set before anything imports numba/matplotlib)


@pytest.fixture(scope="session")
def face_phantom():
    """The 96³ textured phantom (10 µm voxels, seed 1) of the registration tests, built once per session.

    Shared by several test files: do not modify its arrays.
    """
    from liberation.synthetic.face import textured_phantom

    return textured_phantom((96, 96, 96), voxel_size_um=10.0, seed=1)
