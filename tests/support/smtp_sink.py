"""SMTP sink for the notification tests (aiosmtpd).

Usage: smtp_sink.py [PORT]   (0 or absent: any free port on 127.0.0.1)

Prints `PORT <n>` once listening, then one JSON line per received message with the
envelope and the parsed MIME message: mail_from, rcpt_tos, from, to, subject, content_type,
text and html (the two alternative parts, or null), and the threading headers message_id,
in_reply_to and references (or null). Exits when its stdin closes, so it never
outlives the test that started it.
"""

import asyncio
import email
import json
import sys
from email import policy

from aiosmtpd.smtp import SMTP


class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        print(
            json.dumps(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "from": str(msg["from"]),
                    "to": str(msg["to"]),
                    "subject": str(msg["subject"]),
                    "content_type": msg.get_content_type(),
                    "text": text.get_content() if text is not None else None,
                    "html": html.get_content() if html is not None else None,
                    "message_id": msg["message-id"] and str(msg["message-id"]),
                    "in_reply_to": msg["in-reply-to"] and str(msg["in-reply-to"]),
                    "references": msg["references"] and str(msg["references"]),
                }
            ),
            flush=True,
        )
        return "250 2.0.0 Ok: queued by sink"


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), hostname="sink.test"), "127.0.0.1", port
    )
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


asyncio.run(main())
