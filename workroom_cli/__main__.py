from __future__ import annotations

import sys

from workroom_cli.main import main

sys.exit(main())
