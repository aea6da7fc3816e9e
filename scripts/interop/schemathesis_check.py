"""Property-based check of the OpenAPI document against a real server.

Starts `hookrelay serve` (HOOKRELAY_BIN) in dev mode on a fresh SQLite
database and runs Schemathesis (`st run <server>/openapi.json --checks all`)
against it: every request the document calls valid must be accepted, every
invalid one refused, and every answer must match its declared schema.
`schemathesis.toml` beside this script holds the few exceptions (and says
why).

Run it inside a network namespace of its own (`unshare --net`): Schemathesis
creates endpoints with whatever URLs it invents, and the server tries to
deliver to them; in the namespace only loopback exists, so neither a DNS
query nor a delivery leaves the machine. The script brings `lo` up itself.

Environment: HOOKRELAY_BIN (the binary), API_KEY, and optionally
ST_MAX_EXAMPLES (per operation), ST_SEED. Exits with Schemathesis's status.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"hookrelay exited with {server.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"{url} did not become healthy within {timeout} s")


def main() -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    binary = os.environ["HOOKRELAY_BIN"]
    key = os.environ["API_KEY"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(
            os.environ,
            HOOKRELAY_LISTEN=f"127.0.0.1:{port}",
            HOOKRELAY_DATABASE_URL=f"sqlite://{tmp}/hookrelay.db",
            HOOKRELAY_API_KEY=key,
            HOOKRELAY_DEV="1",
            HOOKRELAY_REQUEST_TIMEOUT="2",
            HOOKRELAY_LOG="error",
        )
        server = subprocess.Popen(
            [binary, "serve"], env=env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        try:
            wait_healthy(url, server)
            config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")
            cmd = [
                sys.executable, "-m", "schemathesis.cli", "--config-file", config,
                "run", f"{url}/openapi.json",
                "--checks", "all",
                "--header", f"Authorization: Bearer {key}",
                "--max-examples", os.environ.get("ST_MAX_EXAMPLES", "50"),
                "--seed", os.environ.get("ST_SEED", "1"),
                "--workers", "2",
                "--no-shrink",
                "--request-timeout", "10",
            ]
            print("running:", " ".join(c if key not in c else "<key>" for c in cmd), flush=True)
            return subprocess.run(cmd, stdin=subprocess.DEVNULL, cwd=tmp).returncode
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
