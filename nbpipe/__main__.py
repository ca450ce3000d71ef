import sys

from nbpipe.cli import main

sys.exit(main())
