import sys

from qml_bench.cli import main

sys.exit(main())
