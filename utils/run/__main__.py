import sys

from utils.run import main

sys.exit(main())
