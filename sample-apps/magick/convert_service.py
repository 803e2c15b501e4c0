"""Converts a generated test image to the format named in the path: /to/FORMAT."""
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORMATS = {"jpeg": "image/jpeg", "gif": "image/gif", "bmp": "image/bmp", "tiff": "image/tiff", "webp": "image/webp", "png": "image/png"}


def run(args, data=None):
    return subprocess.run(["convert", *args], input=data, capture_output=True, check=True).stdout


class Handler(BaseHTTPRequestHandler):
    def send(self, status, body, kind="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        try:
            if self.path == "/":
                png = run(["-size", "32x32", "xc:#3366cc", "png:-"])
                jpeg = run(["png:-", "jpeg:-"], png)
                self.send(200, b"converted %d bytes of PNG to %d bytes of JPEG\n" % (len(png), len(jpeg)))
            elif self.path.startswith("/to/") and self.path[4:] in FORMATS:
                fmt = self.path[4:]
                png = run(["-size", "32x32", "gradient:red-blue", "png:-"])
                self.send(200, run(["png:-", f"{fmt}:-"], png), FORMATS[fmt])
            elif self.path == "/label":
                png = run(["-font", "DejaVu-Sans", "-pointsize", "20", "label:slim", "png:-"])
                info = subprocess.run(["identify", "-format", "%m %wx%h", "png:-"], input=png, capture_output=True, check=True).stdout
                self.send(200, b"label rendered: " + info + b"\n")
            else:
                self.send(404, b"no such conversion\n")
        except subprocess.CalledProcessError as err:
            self.send(500, b"convert failed: " + err.stderr)


ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
