"""Drives Tern's SMTP listener with Python's smtplib. Usage: smtplib_client.py PORT CAFILE"""
import smtplib
import ssl
import sys

port = int(sys.argv[1])
cafile = sys.argv[2]

# One recipient, plain.
with smtplib.SMTP("127.0.0.1", port, local_hostname="py.test") as s:
    refused = s.sendmail("py@remote.example", ["alice@example.test"], b"Subject: py one\r\n\r\nfrom smtplib\r\n")
    assert refused == {}, refused

# Many recipients, one of them refused (smtplib reports it and delivers to the others).
with smtplib.SMTP("127.0.0.1", port, local_hostname="py.test") as s:
    refused = s.sendmail(
        "py@remote.example",
        ["alice@example.test", "bob@example.test", "someone@remote.example"],
        b"Subject: py many\r\n\r\nto several\r\n",
    )
    assert list(refused) == ["someone@remote.example"], refused
    assert refused["someone@remote.example"][0] == 550, refused

# 8BITMIME: raw 8-bit bytes, stored as sent.
with smtplib.SMTP("127.0.0.1", port, local_hostname="py.test") as s:
    s.ehlo()
    assert s.has_extn("8bitmime")
    body = "Subject: py 8bit\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, naïve café\r\n".encode()
    s.sendmail("py@remote.example", ["bob@example.test"], body, mail_options=["BODY=8BITMIME"])

# SMTPUTF8: UTF-8 in the addresses and the headers.
with smtplib.SMTP("127.0.0.1", port, local_hostname="py.test") as s:
    s.ehlo()
    assert s.has_extn("smtputf8")
    body = "From: José <josé@remote.example>\r\nSubject: py ütf8\r\n\r\nhéllo\r\n".encode()
    s.sendmail("josé@remote.example", ["carol@example.test"], body, mail_options=["SMTPUTF8", "BODY=8BITMIME"])

# STARTTLS with certificate verification against the server's own certificate, then mail.
context = ssl.create_default_context(cafile=cafile)
# The certificate is for mx.test and we connect to 127.0.0.1: the chain is verified, the name not.
context.check_hostname = False
with smtplib.SMTP("127.0.0.1", port, local_hostname="py.test") as s:
    s.ehlo()
    assert s.has_extn("starttls")
    s.starttls(context=context)
    s.ehlo()
    assert not s.has_extn("starttls")
    s.sendmail("py@remote.example", ["team@example.test"], b"Subject: py tls\r\n\r\nover TLS\r\n")

# Plus-addressing and the catch-all.
with smtplib.SMTP("127.0.0.1", port, local_hostname="py.test") as s:
    s.sendmail("py@remote.example", ["alice+lists@example.test"], b"Subject: py plus\r\n\r\nplus\r\n")
    s.sendmail("py@remote.example", ["whoever@example.test"], b"Subject: py catchall\r\n\r\ncatch-all\r\n")

print("smtplib: all sent")
