#!/usr/bin/python3
"""hookproxy.py PORT_FILE UPSTREAM PATTERN MARK CMD...

A forwarding HTTP/1.1 proxy on 127.0.0.1 for tests that need another command to run at an
exact point of a client's conversation with cofferd. It listens on a free port (written to
PORT_FILE once it accepts connections) and passes every request on to UPSTREAM (HOST:PORT).
Before it passes on the first request whose "METHOD PATH" matches the regular expression
PATTERN, it runs CMD, waits for it, and writes CMD's exit status to MARK. Requests are
forwarded unchanged (cofferd's signatures do not cover the host), each on a connection of
its own; the proxy runs until it is killed. With HOOKPROXY_LOG set, "METHOD PATH" of every
request is appended to that file; with HOOKPROXY_404 set, a request whose "METHOD PATH"
matches that regular expression is answered 404 instead (a server withholding an object),
except the first HOOKPROXY_404_SKIP (default 0) such requests, which are forwarded. A listing
(a path with "/?", and matching HOOKPROXY_DROP_PATH when that is set) loses its lines
matching HOOKPROXY_DROP_LINE, except in the first
HOOKPROXY_DROP_SKIP (default 0) listings that have such a line and in those after the next
HOOKPROXY_DROP_COUNT (default: all); a whole object (no Range
header) whose "METHOD PATH" matches HOOKPROXY_CORRUPT has its last byte flipped.
"""
import http.client
import http.server
import os
import re
import subprocess
import sys
import threading

HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection"}


def read_body(rfile, headers):
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = bytearray()
        while True:
            size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += rfile.read(size)
            rfile.readline()
    n = int(headers.get("Content-Length") or 0)
    return rfile.read(n) if n > 0 else b""


class Hook:
    def __init__(self, pattern, mark, cmd):
        self.pattern = re.compile(pattern)
        self.mark = mark
        self.cmd = cmd
        self.done = False
        self.matched404 = 0
        self.dropped = 0
        self.lock = threading.Lock()

    def rewrite(self, method, path, headers, data):
        drop = os.environ.get("HOOKPROXY_DROP_LINE")
        only = os.environ.get("HOOKPROXY_DROP_PATH")
        if drop and "/?" in path and (not only or re.search(only, path)):
            lines = data.split(b"\n")
            keep = [ln for ln in lines if not re.search(drop.encode(), ln)]
            if len(keep) != len(lines):
                skip = int(os.environ.get("HOOKPROXY_DROP_SKIP", "0"))
                count = int(os.environ.get("HOOKPROXY_DROP_COUNT", "-1"))
                with self.lock:
                    self.dropped += 1
                    if self.dropped > skip and (count < 0 or self.dropped <= skip + count):
                        data = b"\n".join(keep)
        corrupt = os.environ.get("HOOKPROXY_CORRUPT")
        if (corrupt and data and "Range" not in headers
                and re.search(corrupt, f"{method} {path}")):
            data = data[:-1] + bytes([data[-1] ^ 1])
        return data

    def withhold(self, method, path):
        pattern = os.environ.get("HOOKPROXY_404")
        if not pattern or not re.search(pattern, f"{method} {path}"):
            return False
        with self.lock:
            self.matched404 += 1
            return self.matched404 > int(os.environ.get("HOOKPROXY_404_SKIP", "0"))

    def before(self, method, path):
        with self.lock:
            if os.environ.get("HOOKPROXY_LOG"):
                with open(os.environ["HOOKPROXY_LOG"], "a", encoding="ascii") as f:
                    f.write(f"{method} {path}\n")
            if self.done or not self.pattern.search(f"{method} {path}"):
                return
            self.done = True
            rc = subprocess.run(self.cmd, stdout=subprocess.DEVNULL, check=False).returncode
            with open(self.mark, "w", encoding="ascii") as f:
                f.write(f"{rc}\n")


def handler(upstream, hook):
    class Forward(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self):
            body = read_body(self.rfile, self.headers)
            hook.before(self.command, self.path)
            if hook.withhold(self.command, self.path):
                self.send_response_only(404, "Not Found")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(upstream, timeout=120)
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = hook.rewrite(self.command, self.path, headers, resp.read())
            finally:
                conn.close()
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            # a HEAD reply has no body but tells the object's length
            length = resp.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        def log_message(self, fmt, *args):
            pass

    return Forward


def main():
    if len(sys.argv) < 6:
        sys.exit("usage: hookproxy.py PORT_FILE UPSTREAM PATTERN MARK CMD...")
    port_file, upstream, pattern, mark = sys.argv[1:5]
    hook = Hook(pattern, mark, sys.argv[5:])
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(upstream, hook))
    tmp = port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.rename(tmp, port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
