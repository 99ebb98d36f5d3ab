"""One client, one keep-alive connection, one request at a time: each request's latency, from the
moment its bytes are sent to the moment its whole response is read, on a blocking socket with
TCP_NODELAY. Prints {"n", "p50", "p90", "p99", "p999"} (milliseconds) as JSON.

    python3 one_client.py URL SECONDS [PUBLISHABLE_KEY]

With a key, each request is a tokenization of one test card (as token.lua sends it); without, a GET of
the URL. wrk measures the same thing inside its event loop; this client does nothing else, so its tail
is the server's and the machine's, not the load generator's.
"""

import json
import socket
import sys
import time
from urllib.parse import urlsplit


def request_bytes(path, key):
    if not key:
        return f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    body = b'{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2034,"cvc":"123"}}'
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_response(sock, buf):
    """Reads one response (Content-Length framed); answers (status, the bytes after it)."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(buf) >= end + 4 + length:
                return int(head[0].split()[1]), buf[end + 4 + length :]
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buf += chunk


def main():
    url, seconds = urlsplit(sys.argv[1]), float(sys.argv[2])
    key = sys.argv[3] if len(sys.argv) > 3 else None
    req = request_bytes(url.path or "/", key)
    sock = socket.create_connection((url.hostname, url.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies, failures, buf = [], 0, b""
    end = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        if start > end:
            break
        sock.sendall(req)
        status, buf = read_response(sock, buf)
        latencies.append(time.perf_counter() - start)
        failures += status != 200
    latencies.sort()
    n = len(latencies)

    def at(q):
        return round(latencies[min(n - 1, int(n * q))] * 1000, 3)

    print(json.dumps({"n": n, "non200": failures, "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "p999": at(0.999)}))


if __name__ == "__main__":
    main()
