import sys

from nbpipe.cli.commands import main

sys.exit(main())
