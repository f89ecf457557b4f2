"""Celery settings for the run workers, imported by `dagster_celery.app` when this folder is on
PYTHONPATH. A worker takes one task at a time and acknowledges it only when the run ends, so a
worker that dies fails its run within seconds: the broker hands the unacknowledged task to
another worker, which refuses to start a run that already started and marks it failed."""

import os

broker_url = os.environ.get("RECSYS_CELERY_BROKER_URL", "amqp://guest@localhost:5672//")
result_backend = os.environ.get("RECSYS_CELERY_BACKEND_URL", "rpc://")
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
