import sys

from liberation.cli import main

sys.exit(main())
