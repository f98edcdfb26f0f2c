"""A first deploy that passes its health checks before the pipeline has built anything.

The service's first task definition runs each container's *initial* `image`; the target group
checks `/health` on the endpoint port and containers may check each other (`depends_on:
HEALTHY`), so stock images (nginx's welcome page, a python image that exits at once) fail and
the circuit breaker stops the service before the pipeline ever delivers an image.

A container with `stand_in: true` gets an entry point that decides at start which program runs:

* the container's `command` (the program its built image runs: `gunicorn ...`, `nginx ...`)
  when that program exists in the image: the pipeline's build;
* otherwise (the initial image, an official python image without that program) a stand-in
  HTTP server on the container's first port that answers 200 to every GET/HEAD path, so
  `/health` passes and `/` says the pipeline has not deployed yet.

Why decide at start, inside the container: CodePipeline's ECS deploy action makes each new
revision from the service's current one, changing only the image (CodePipeline user guide, ECS
deploy action), so anything the first revision sets — entry point, command — stays in every
revision the pipeline makes. The same entry point therefore has to do the right thing in the
initial image and in every built one; the program's presence tells them apart.

When the built image is official nginx's, its own entry point (/docker-entrypoint.sh, which an
ECS entryPoint replaces) runs first, as without the stand-in. A built image needs /bin/sh.
"""

from __future__ import annotations

# Programs every initial image has (so their presence cannot tell the built image apart).
AMBIGUOUS = frozenset({"python", "python3", "sh", "bash", "env", "exec"})

STAND_IN_SERVER = """import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    body = b"ecs_cicd stand-in: the pipeline has not deployed this container yet\\n"
    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
    def do_GET(self):
        self.do_HEAD()
        self.wfile.write(self.body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", int(sys.argv[1])), Handler).serve_forever()
"""

# $0 is the port (the stand-in's), "$@" the container's command.
SCRIPT = (
    'if command -v "$1" >/dev/null 2>&1; then '
    'if [ -x /docker-entrypoint.sh ]; then exec /docker-entrypoint.sh "$@"; fi; '
    'exec "$@"; fi; '
    'echo "ecs_cicd stand-in: $1 is not in this image (initial image): serving 200 on port $0"; '
    "exec python3 -c '" + STAND_IN_SERVER + '\' "$0"'
)


def entry_point(port: int) -> list[str]:
    """The ECS entryPoint of a stand-in container listening on `port` (its command follows)."""
    return ["/bin/sh", "-c", SCRIPT, str(port)]


def problem(command: list[str] | None, entry: list[str] | None, ports: list[int]) -> str | None:
    """Why `stand_in: true` cannot work with this container, or None."""
    if entry:
        return "stand_in sets the entry point; remove entry_point"
    if not command:
        return (
            "stand_in needs command: the program the built image runs (e.g. [gunicorn, ...]), "
            "so the entry point can tell the built image from the initial one"
        )
    program = command[0].rsplit("/", 1)[-1]
    if program in AMBIGUOUS:
        return (
            f"stand_in cannot use command {command[0]!r}: the initial image has it too; "
            "start the command with the program itself (gunicorn, nginx, ...)"
        )
    if not ports:
        return "stand_in needs a port mapping: the stand-in answers on the first one"
    return None
