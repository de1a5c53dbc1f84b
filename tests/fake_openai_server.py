"""A fake OpenAI-compatible completions server for tests: `python tests/fake_openai_server.py PORT`.

Each completion is `\\boxed{<number of characters of the prompt>}`; the first FAIL_FIRST requests
(environment variable) answer 503, to exercise retries."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAILURES = {"left": int(os.environ.get("FAIL_FIRST", "0"))}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200 if self.path == "/health" else 404, {})

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if FAILURES["left"] > 0:
            FAILURES["left"] -= 1
            return self._send(503, {"error": "warming up"})
        prompts = payload["prompt"] if isinstance(payload["prompt"], list) else [payload["prompt"]]
        choices = []
        for i, prompt in enumerate(prompts):
            for j in range(payload.get("n", 1)):
                text = f"\\boxed{{{len(prompt)}}}"
                choices.append(
                    {
                        "index": i * payload.get("n", 1) + j,
                        "text": text,
                        "finish_reason": "stop",
                        "logprobs": {"tokens": list(text)},
                    }
                )
        choices.reverse()  # the client must order by index
        self._send(200, {"choices": choices, "model": payload["model"]})


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
