"""``mstr serve``: the web page and JSON API of :mod:`mstr.serve` (FastAPI on uvicorn)."""
from __future__ import annotations

import argparse

from mstr.cli.options import add_bundle, add_precision
from mstr.errors import UserError

_EPILOG = """\
Open http://HOST:PORT/ for the page (upload or drop a photo or a word crop), /docs for the API.
  mstr serve --port 8000
  curl -F file=@shop.jpg 'http://127.0.0.1:8000/read?overlay=false'"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from mstr.serve import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

    p = sub.add_parser("serve", help="a web page and JSON API that read photos and word crops",
                       description="Serve the mSTR web page (GET /) and JSON API (POST /read, /docs).",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_bundle(p)
    p.add_argument("--max-mib", type=float, default=DEFAULT_MAX_BYTES / 2**20,
                   help=f"largest upload in MiB (default {DEFAULT_MAX_BYTES / 2**20:.0f}); larger ones get 413")
    p.add_argument("--max-megapixels", type=float, default=DEFAULT_MAX_PIXELS / 1e6,
                   help=f"largest image in megapixels (default {DEFAULT_MAX_PIXELS / 1e6:.0f}); larger ones get 413")
    p.add_argument("--model-slots", type=int, default=2,
                   help="requests in the model at once; the others wait (default 2)")
    add_precision(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1..65535, got {args.port}")
    if args.max_mib <= 0 or args.max_megapixels <= 0 or args.model_slots < 1:
        raise UserError("--max-mib and --max-megapixels must be positive and --model-slots at least 1")
    try:
        import uvicorn
    except ImportError:
        raise UserError("mstr serve needs the web extra: pip install 'mstr[serve]' (FastAPI, uvicorn, "
                        "python-multipart)") from None
    from mstr.api import load
    from mstr.precision import precision_arg
    from mstr.serve import create_app

    reader = load(args.bundle, bf16=precision_arg(args.precision))
    app = create_app(reader, max_bytes=int(args.max_mib * 2**20),
                     max_pixels=int(args.max_megapixels * 1e6), model_slots=args.model_slots)
    print(f"mstr serve: http://{args.host}:{args.port}/ (API docs at /docs); Ctrl-C stops", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
