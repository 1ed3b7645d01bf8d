"""``python -m drgpay``: the ``drgpay`` command."""

import sys

from drgpay.cli import main

sys.exit(main())
