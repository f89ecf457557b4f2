"""The console logger of every run: one short line per message a step logs (the step, then the
message), warnings and errors of Dagster's own events; the full log stays in the instance."""

from __future__ import annotations

import logging
import sys

import dagster as dg


class _StepLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        message = meta.get("orig_message") or record.getMessage()
        event = meta.get("dagster_event")
        if event is not None:
            message = f"{event.event_type_value}: {message}"
        step = meta.get("step_key")
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"   {level}{step + ': ' if step else ''}{message}"


class _StepMessages(logging.Filter):
    """A step's own messages at the logger's level; Dagster's events only from warnings up."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None) or {}
        return meta.get("dagster_event") is None or record.levelno >= logging.WARNING


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="Short lines on stdout: each step's messages, and warnings and errors.",
)
def console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("recsys_assets", level=init_context.logger_config["log_level"].upper())
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_StepLines())
    handler.addFilter(_StepMessages())
    logger.addHandler(handler)
    return logger
