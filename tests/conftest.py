import os

os.environ.setdefault("LIBERATION_PROGRESS", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
