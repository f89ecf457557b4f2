"""Celery settings for the run workers, imported by `dagster_celery.app` when this folder is on
PYTHONPATH. A worker takes one task at a time and acknowledges it only when the run ends, so the
task of a worker that dies goes back to the queue; the next worker to take it leaves the started
run alone and ends the task, and run monitoring then fails the run (recsys_assets.celery_run_launcher)."""

import os

broker_url = os.environ.get("RECSYS_CELERY_BROKER_URL", "amqp://guest@localhost:5672//")
result_backend = os.environ.get("RECSYS_CELERY_BACKEND_URL", "rpc://")
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
