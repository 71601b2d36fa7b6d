"""Delivery: e-mail over SMTP (STARTTLS always, then login when a user is set) and Slack incoming webhooks.

Each delivery either succeeds or raises ``DeliveryError`` with one line saying which destination failed and
why; the line never holds the password or the webhook's secret path (a webhook is shown by its host).
"""

from __future__ import annotations

import hashlib
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlsplit

from ..config import DigestSettings
from ..version import __version__

TIMEOUT = 30.0


class DeliveryError(Exception):
    """A destination did not take the digest (the message says which and why, without secrets)."""


@dataclass(frozen=True)
class Destination:
    """``slack`` with its webhook URL, or ``email`` with its address."""

    kind: str
    target: str

    @property
    def key(self) -> str:
        """What the sent-state file records: the address, or a digest of the webhook (a secret URL)."""
        if self.kind == "email":
            return f"email:{self.target.lower()}"
        return "slack:" + hashlib.sha256(self.target.encode()).hexdigest()[:16]

    @property
    def shown(self) -> str:
        """For output and errors: the address, or the webhook's host only."""
        if self.kind == "email":
            return f"email:{self.target}"
        return f"slack:{urlsplit(self.target).hostname}"


def email_message(sender: str, to: str, subject: str, text: str, html: str) -> EmailMessage:
    """A multipart/alternative message: the plain-text part first, the HTML part preferred by readers."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">") or None)
    message["X-Mailer"] = f"otel-llmcost {__version__}"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a report
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send_email(settings: DigestSettings, message: EmailMessage, to: str) -> None:
    """Deliver through the configured server: STARTTLS (certificate verified), login, send."""
    host, port = settings.smtp_host, settings.smtp_port
    where = f"e-mail to {to} through {host}:{port}"
    try:
        context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"{where}: cannot read the CA file {settings.smtp_ca_file} ({exc})") from None
    try:
        with smtplib.SMTP(host or "", port, timeout=TIMEOUT) as smtp:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise DeliveryError(f"{where}: the server does not offer STARTTLS; refusing to send in clear text")
            smtp.starttls(context=context)
            smtp.ehlo()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            refused = smtp.send_message(message, to_addrs=[to])
            if refused:
                raise DeliveryError(f"{where}: the server refused the recipient ({refused[to][0]})")
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"{where}: login as {settings.smtp_user} refused ({_smtp_reason(exc)})") from None
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()))
        problem = f"{code} {reason.decode(errors='replace')}"
        raise DeliveryError(f"{where}: the server refused the recipient ({problem})") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"{where}: the server answered {_smtp_reason(exc)}") from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"{where}: TLS failed ({exc.reason or exc}); set OTEL_LLMCOST_SMTP_CA_FILE to the CA "
                            "that signed the server's certificate if it is a private one") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{where}: {exc or type(exc).__name__}") from None


def _smtp_reason(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {error}"


def send_slack(url: str, payload: dict[str, Any]) -> None:
    """POST the Block Kit payload to an incoming webhook; Slack answers 200 ``ok`` when it took it."""
    shown = f"slack webhook at {urlsplit(url).hostname}"
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode(errors="replace").strip()
        raise DeliveryError(f"{shown} answered HTTP {exc.code}{f' ({body})' if body else ''}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"{shown}: {getattr(exc, 'reason', exc)}") from None
