"""python -m ecs_cicd"""

import sys

from ecs_cicd.cli import main

sys.exit(main())
