import sys

from nbpipe.cli.main import main

sys.exit(main())
