#!/usr/bin/env python3
"""Print an x-retell-signature for a body, made by the official retell-sdk.

    make sign BODY='{"event":"call_started","call":{"call_id":"c1"}}'
Key: $RETELL_API_KEY, or the local dev key.
"""

import os
import sys
import time

from retell.lib.webhook_auth import symmetric

sys.path.insert(0, os.path.dirname(__file__))
from stack import DEV_API_KEY  # noqa: E402

body = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
print(symmetric["sign"](body, os.environ.get("RETELL_API_KEY") or DEV_API_KEY, int(time.time() * 1000)))
