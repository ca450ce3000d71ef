"""Luigi's ``luigi.notifications``: the ``[email]`` settings and the error e-mail hooks.

Sending e-mail is out of scope for nbpipe: the settings are accepted (so
Luigi configuration files and code keep working), and when a receiver is
configured the message is logged once as a warning saying it was not sent.
``DEBUG`` is Luigi's switch that stops e-mail in tests; it is kept for
code that sets it.
"""

from __future__ import annotations

import logging
from typing import Any

from nbpipe.parameter import BoolParameter, ChoiceParameter, IntParameter, Parameter
from nbpipe.task import Config

__all__ = ["email", "smtp", "send_email", "send_error_email", "format_task_error", "wrap_traceback", "DEBUG"]

logger = logging.getLogger("nbpipe")

#: Luigi's test switch: never send e-mail.  Nothing is ever sent here anyway.
DEBUG = False

_NOT_SENT = "e-mail is not sent by nbpipe (out of scope); configured receiver(s): %s; subject: %s"


class email(Config):
    """The ``[email]`` section, as Luigi declares it (read, never used to send)."""

    _visible_in_registry = False

    force_send = BoolParameter(default=False)
    format = ChoiceParameter(default="plain", choices=("plain", "html", "none"))
    method = ChoiceParameter(default="smtp", choices=("smtp", "sendgrid", "ses", "sns"))
    prefix = Parameter(default="")
    receiver = Parameter(default="")
    sender = Parameter(default="luigi-client@localhost")
    traceback_max_length = IntParameter(default=5000)


class smtp(Config):
    """The ``[smtp]`` section, as Luigi declares it (read, never used)."""

    _visible_in_registry = False

    host = Parameter(default="localhost")
    port = IntParameter(default=0)
    ssl = BoolParameter(default=False)
    username = Parameter(default="")
    password = Parameter(default="")
    timeout = IntParameter(default=10)


def send_email(subject: str, message: str, sender: str, recipients: Any, image_png: Any = None) -> None:
    """Log that the message was not sent (e-mail is out of scope), when there is anyone to send it to."""
    recipients = [r for r in ([recipients] if isinstance(recipients, str) else list(recipients or [])) if r]
    if recipients and not DEBUG:
        logger.warning(_NOT_SENT, ", ".join(recipients), subject)


def send_error_email(subject: str, message: str, additional_recipients: Any = None) -> None:
    """Luigi's error e-mail: the configured ``[email] receiver`` plus ``additional_recipients``; see :func:`send_email`."""
    receivers = [r.strip() for r in email().receiver.split(",") if r.strip()]
    receivers += list(additional_recipients or [])
    send_email(email().prefix + subject, message, email().sender, receivers)


def wrap_traceback(traceback: str) -> str:
    """The traceback as the (plain-text) body would carry it."""
    return traceback


def format_task_error(
    headline: str, task: Any, command: Any, formatted_exception: str | None = None
) -> tuple[str, str]:
    """(subject, body) of an error e-mail about ``task``: the headline, the task and the traceback."""
    body = f"{headline}\n\nName: {task.get_task_family()}\n\nParameters:\n"
    body += "".join(f"    {name}: {value}\n" for name, value in task.to_str_params().items())
    if formatted_exception:
        body += f"\n{formatted_exception}"
    return headline, body
