"""A tiny webhook receiver for trying Blue Gateway: prints each delivery and checks its signatures.

Usage: WEBHOOK_SECRET=whsec_... python docs/examples/receiver.py 9000
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ.get("WEBHOOK_SECRET", "")


def standard_key(secret: str) -> bytes:
    return base64.b64decode(secret[len("whsec_") :]) if secret.startswith("whsec_") else secret.encode()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))  # the raw bytes: sign these
        print(f"\n{self.headers.get('x-blue-event')} -> {self.path}")
        print(json.dumps(json.loads(body), indent=2)[:2000])
        if not SECRET:
            print("(set WEBHOOK_SECRET to the webhook's secret to verify signatures)")
        else:
            blue = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            ok_blue = hmac.compare_digest(blue, self.headers.get("X-Signature", ""))
            msg_id, ts = self.headers.get("webhook-id", ""), self.headers.get("webhook-timestamp", "")
            digest = hmac.new(standard_key(SECRET), f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
            expected = "v1," + base64.b64encode(digest).decode()
            ok_std = any(
                hmac.compare_digest(expected, s) for s in self.headers.get("webhook-signature", "").split()
            )
            print(f"X-Signature valid: {ok_blue}   webhook-signature valid: {ok_std}   webhook-id: {msg_id}")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    print(f"listening on http://127.0.0.1:{port}")
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
