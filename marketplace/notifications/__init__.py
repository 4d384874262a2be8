"""E-mail and in-app notifications.

A change that concerns someone calls one function of ``notify`` (one line in the domain's service);
the message is rendered in the recipient's language and written to the ``outgoing_mail`` outbox in
the same transaction as the change. the job worker (``flask worker``) sends the outbox over SMTP (Flask-Mailman),
retrying with backoff, so an SMTP outage delays mail but never loses it or fails a request.
"""
