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
