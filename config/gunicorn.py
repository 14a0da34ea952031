"""gunicorn settings for the web process: `gunicorn -c python:config.gunicorn config.wsgi:application`.

The Dockerfile, scripts/prodlike and bench/registry_vs_mlflow.py start gunicorn with these; flags on
the command line override them. gthread workers because MLflow clients and batch jobs keep their
connections alive (sync workers close each connection after one response); 3 processes of 8 threads
suit 2 cores (bench/RESULTS.md compares the alternatives). Each thread holds its own database
connection: size PostgreSQL's max_connections for workers x threads per web replica.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
keepalive = 30
graceful_timeout = 30
backlog = 2048
# A listening socket per process (SO_REUSEPORT), so the kernel spreads new connections over the
# processes. On one shared socket the process that wakes first takes most of a burst of keep-alive
# connections (seen: 12 of 16 on one process, half the throughput); with it, 6/4/7 or 5/6/5.
# The price: connections still queued on a process that exits are reset.
reuse_port = True

# Request lines twice as long as API routes accept (QUORUM_MAX_QUERY_STRING_BYTES, 256 KiB by
# default): long search filters arrive in the query string because MLflow's client sends searches
# as GET, and Quorum itself answers a query string over its limit with the API's JSON 414
# (config/middleware.py); only lines past twice the limit meet gunicorn's own HTML 400. gunicorn
# caps the setting at 8190 unless its MAX_REQUEST_LINE (read as each request is parsed) is raised.
from gunicorn.http import message as _message  # noqa: E402

limit_request_line = 2 * int(os.environ.get("QUORUM_MAX_QUERY_STRING_BYTES", str(256 * 1024))) + 16 * 1024
_message.MAX_REQUEST_LINE = max(_message.MAX_REQUEST_LINE, limit_request_line)
