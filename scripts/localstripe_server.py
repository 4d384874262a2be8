"""Run localstripe (a local fake of the Stripe API) bound to 127.0.0.1 only.

localstripe's own ``localstripe`` command listens on every interface; this
launcher serves the same aiohttp app on the loopback address instead.
Usage: python scripts/localstripe_server.py PORT
"""

import logging
import sys

from aiohttp import web
from localstripe.server import app

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8420
    logging.basicConfig(level=logging.WARNING)
    web.run_app(app, host="127.0.0.1", port=port, print=None)
