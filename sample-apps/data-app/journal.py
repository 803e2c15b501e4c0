"""A journal service: POST /entry appends a line, GET /entries reads them back."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA = "/srv/data"
JOURNAL = os.path.join(DATA, "journal.txt")


class Handler(BaseHTTPRequestHandler):
    def send(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/":
            self.send(200, "Journal service\n")
        elif self.path == "/entries":
            with open(JOURNAL) as f:
                self.send(200, f.read())
        elif self.path == "/archive":
            self.send(200, "".join(sorted(os.listdir(os.path.join(DATA, "archive")))) + "\n")
        elif self.path == "/owner":
            st = os.stat(DATA)
            self.send(200, "%d:%d %o\n" % (st.st_uid, st.st_gid, st.st_mode & 0o7777))
        else:
            self.send(404, "not found\n")

    def do_POST(self):
        text = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(JOURNAL, "a") as f:
            f.write(text.strip() + "\n")
        self.send(201, "added\n")


ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
