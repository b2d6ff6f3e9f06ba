import sys

from bplint.cli import main

sys.exit(main())
