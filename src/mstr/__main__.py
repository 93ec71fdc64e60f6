import sys

from mstr.cli.main import main

sys.exit(main())
