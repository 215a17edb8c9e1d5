#!/usr/bin/env python3
"""A local webhook receiver that verifies Standard Webhooks 1.0 signatures.

    WEBHOOK_SECRET=whsec_... python3 tools/webhook_receiver.py [PORT]

Prints each event it receives, with whether its signature verified, and answers 204 (401 when
the signature does not verify or the timestamp is more than five minutes off). It uses the
standard library only, independently of the service's own code: what it accepts, any Standard
Webhooks library accepts.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

TOLERANCE_SECONDS = 5 * 60


def key_of(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def verified(secret: str, headers, body: bytes) -> bool:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest()).decode()
    # During a rotation the header carries one signature per secret in force.
    for candidate in headers.get("webhook-signature", "").split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        ok = verified(os.environ.get("WEBHOOK_SECRET", ""), self.headers, body)
        try:
            event = json.loads(body)
        except ValueError:
            event = {"type": "?", "data": body.decode(errors="replace")}
        print(
            f"{'verified' if ok else 'NOT VERIFIED'} {self.headers.get('webhook-id')} "
            f"{event.get('type')}: {json.dumps(event.get('data'), ensure_ascii=False)}",
            flush=True,
        )
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8099
    print(f"listening on http://127.0.0.1:{port}/", flush=True)
    HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
