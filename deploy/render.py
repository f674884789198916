"""Render deploy/nginx/portal_app.conf.template for one server (README "Deploying").

    python deploy/render.py --server-name portal.example.org --cert FULLCHAIN.pem --key PRIVKEY.pem \
        --upstream 127.0.0.1:3000 [--upstream 127.0.0.1:3001 ...] [--https-port 443] [--http-port 80]

prints the nginx config. Every value is checked before it lands in the file: a name, path or
address with a space, `;`, `{` or a quote in it would end an nginx directive early and start another.
The browser tests render the same template this way (tests/e2e/test_https_proxy.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "portal_app.conf.template"
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_UPSTREAM = re.compile(r"^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$")
_UNSAFE_IN_PATH = re.compile(r"[\s;{}'\"$\\]")


def _port(value: int, what: str) -> int:
    if not 0 < value < 65536:
        raise ValueError(f"{what} must be a port number (1-65535), not {value}")
    return value


def render(*, server_name: str, cert: str, key: str, upstreams: list[str],
           https_port: int = 443, http_port: int = 80, template: str | None = None) -> str:
    """The nginx config for these values; ValueError names the first value that cannot go in."""
    if not _HOST_NAME.match(server_name):
        raise ValueError(f"--server-name must be a host name such as portal.example.org, not {server_name!r}")
    for what, path in (("--cert", cert), ("--key", key)):
        if not path.startswith("/") or _UNSAFE_IN_PATH.search(path):
            raise ValueError(f"{what} must be an absolute path without spaces, quotes, ';', '{{' or '$'")
    if not upstreams:
        raise ValueError("give at least one --upstream HOST:PORT (where the app listens)")
    for upstream in upstreams:
        match = _UPSTREAM.match(upstream)
        if match is None:
            raise ValueError(f"--upstream must be HOST:PORT, such as 127.0.0.1:3000, not {upstream!r}")
        _port(int(match.group(2)), "--upstream's port")
    values = {
        "SERVER_NAME": server_name,
        "CERT": cert,
        "KEY": key,
        "UPSTREAM_SERVERS": "\n".join(f"    server {upstream};" for upstream in upstreams),
        "HTTPS_PORT": str(_port(https_port, "--https-port")),
        "HTTP_PORT": str(_port(http_port, "--http-port")),
        # Redirects and the Host header name the port only when it is not https's own.
        "HTTPS_PORT_SUFFIX": "" if https_port == 443 else f":{https_port}",
    }
    text = TEMPLATE.read_text() if template is None else template
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python deploy/render.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-name", required=True, help="the portal's host name (PORTAL_BASE_URL's)")
    parser.add_argument("--cert", required=True, help="the certificate chain (PEM), e.g. Let's Encrypt's fullchain.pem")
    parser.add_argument("--key", required=True, help="its private key (PEM), readable by root only")
    parser.add_argument("--upstream", action="append", required=True, metavar="HOST:PORT",
                        help="where the app listens (repeatable for several app processes)")
    parser.add_argument("--https-port", type=int, default=443)
    parser.add_argument("--http-port", type=int, default=80)
    args = parser.parse_args(argv)
    try:
        text = render(server_name=args.server_name, cert=args.cert, key=args.key, upstreams=args.upstream,
                      https_port=args.https_port, http_port=args.http_port)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
