import sys

from liberation.cli import main

# guarded: worker processes of a local Dask cluster (``--workers``) are spawned and import this module
if __name__ == "__main__":
    sys.exit(main())
