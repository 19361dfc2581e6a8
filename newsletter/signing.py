"""DKIM signatures (RFC 6376) on the digests, when ``email.dkim`` is set.

Why the tool signs at all: mail providers act on ``List-Unsubscribe-Post``
(one-click unsubscribe, RFC 8058) only when a valid DKIM signature covers it
and ``List-Unsubscribe``, and bulk senders' mail without an aligned
signature goes to spam.  A relay that signs for you may not cover those two
headers; this signature does.

The signature is made where the message is made (:class:`rendering.Composer`),
so ``send``, ``test-email`` and ``preview`` all carry it and nothing after
that may change the message: the outbox writes the bytes as they are, SMTP
only dot-stuffs them (undone by the receiver).

Keys: RSA (``rsa-sha256``, at least 1024 bits; 2048 is what providers
expect) or Ed25519 (``ed25519-sha256``, RFC 8463), in PEM, from the
variable ``key_env`` names or the file ``key_file``; the key is never
shown in a message.  Canonicalisation is relaxed/relaxed, which survives
relays that re-fold headers or trim trailing spaces.  Signing is done with
the ``cryptography`` package: dkimpy's own RSA code takes about 20 ms per
message (minutes for 10,000 digests), ``cryptography``'s well under 1 ms.
The tests verify every signature with dkimpy.
"""

from __future__ import annotations

import base64
import hashlib
import os
from email.utils import parseaddr

from .config import Config, unset_variable
from .errors import ConfigError, Problem
from .patterns import lazy

#: Signed headers, in this order; those marked are also listed once more than
#: they occur ("oversigned"), so a second From, Subject or List-Unsubscribe
#: added on the way breaks the signature instead of being shown.
SIGNED = ("from", "to", "subject", "date", "message-id", "reply-to", "list-id", "list-unsubscribe", "list-unsubscribe-post",
          "mime-version", "content-type")
OVERSIGNED = frozenset({"from", "subject", "list-unsubscribe", "list-unsubscribe-post"})
#: What a ``mailing_list:`` digest leaves to the list manager, which adds its own: not oversigned
#: there (the digest has none), or the list's List-Unsubscribe broke the signature.
LIST_MANAGERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})
MIN_RSA_BITS = 1024

_WSP = lazy(rb"[ \t]+")
_FOLD = lazy(rb"\r\n(?=[ \t])")


def _relaxed_header(name: bytes, value: bytes) -> bytes:
    """RFC 6376, 3.4.2: lower-case name, unfolded value, runs of spaces as one, no space at the ends."""
    value = _WSP.sub(b" ", _FOLD.sub(b"", value)).strip(b" \t\r\n")
    return name.strip().lower() + b":" + value + b"\r\n"


def _relaxed_body(body: bytes) -> bytes:
    """RFC 6376, 3.4.4: spaces at line ends dropped, runs of spaces as one, no
    empty lines at the end.  On the whole body at once, not line by line (a
    digest's HTML part is indented: that took 1.8 ms a message)."""
    body = body.replace(b"\t", b" ")
    while b"  " in body:  # each pass halves every run: a few passes of a fast replace (a regex took 1.2 ms)
        body = body.replace(b"  ", b" ")
    if b" \r\n" in body:
        body = body.replace(b" \r\n", b"\r\n")
    body = body.rstrip(b" ")  # the last line, if it has no line end
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    return body[:end] + b"\r\n" if end else b""


def _headers(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, value with its folds) of each header field, in order."""
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        elif line:
            name, _, value = line.partition(b":")
            fields.append((name, value))
    return fields


def _folded(tags: list[str], signature: str) -> bytes:
    """The DKIM-Signature field: its tags, then ``b=`` with the signature in lines of 72."""
    out, line = [], "DKIM-Signature:"
    for tag in tags:
        if len(line) + 1 + len(tag) > 76:
            out.append(line)
            line = ""
        line += " " + tag
    out.append(line)
    out[-1] += " b="
    chunks = [signature[i : i + 72] for i in range(0, len(signature), 72)]
    if chunks:
        if len(out[-1]) + len(chunks[0]) > 78:
            out.append(" " + chunks[0])
        else:
            out[-1] += chunks[0]
        out.extend(" " + chunk for chunk in chunks[1:])
    return ("\r\n".join(out) + "\r\n").encode("ascii")


class Signer:
    """Signs messages for one domain and selector with one private key."""

    def __init__(self, domain: str, selector: str, key) -> None:
        from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

        if isinstance(key, rsa.RSAPrivateKey):
            self.algorithm = "rsa-sha256"
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            self.algorithm = "ed25519-sha256"
        else:
            raise TypeError("an RSA or Ed25519 private key")
        self.domain, self.selector, self.key = domain, selector, key

    def _sign(self, data: bytes) -> bytes:
        if self.algorithm == "rsa-sha256":
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.key.sign(hashlib.sha256(data).digest())  # RFC 8463: Ed25519 over the SHA-256 hash

    def __call__(self, message: bytes, mailing_list: bool = False) -> bytes:
        """``message`` (CRLF line ends, as :class:`messages.MessageWriter`
        writes it) with a ``DKIM-Signature`` field first.  ``mailing_list``:
        the digest of a ``mailing_list:`` subscriber, whose List-Unsubscribe
        headers are the list manager's to add (see :data:`LIST_MANAGERS`)."""
        oversigned = OVERSIGNED - LIST_MANAGERS if mailing_list else OVERSIGNED
        head, sep, body = message.partition(b"\r\n\r\n")
        if not sep:
            head, body = message.removesuffix(b"\r\n"), b""
        fields = _headers(head)
        present = [name.strip().lower().decode("ascii", "replace") for name, _ in fields]
        names: list[str] = []
        for name in SIGNED:
            count = present.count(name)
            names += [name] * (count + (name in oversigned))
        # each listed name takes the next instance from the bottom (RFC 6376, 5.4.2); one listed more often signs nothing
        signed = b""
        used: dict[str, int] = {}
        for name in names:
            instances = [f for f, n in zip(fields, present, strict=True) if n == name]
            k = used.get(name, 0)
            used[name] = k + 1
            if k < len(instances):
                signed += _relaxed_header(*instances[len(instances) - 1 - k])
        body_hash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode("ascii")
        # h= as one piece per name, so the field folds between them (white space may stand around each ':')
        listed = [f"{n}:" for n in names[:-1]] + [f"{names[-1]};"]
        listed[0] = "h=" + listed[0]
        tags = [
            "v=1;", f"a={self.algorithm};", "c=relaxed/relaxed;", f"d={self.domain};", f"s={self.selector};",
            *listed, f"bh={body_hash};",
        ]
        unsigned = _folded(tags, "")
        field_name, _, field_value = unsigned.removesuffix(b"\r\n").partition(b":")
        data = signed + _relaxed_header(field_name, field_value).removesuffix(b"\r\n")
        signature = base64.b64encode(self._sign(data)).decode("ascii")
        return _folded(tags, signature) + message


def key_problem(config: Config) -> Problem | None:
    """Why ``email.dkim`` cannot sign (a key that is unset, unreadable, not a
    private key, too short; a domain other than the sender's), located at
    its line; None when it can or no signing is configured."""
    try:
        signer(config)
    except ConfigError as exc:
        return exc.problems[0]
    return None


def key_file_advice(config: Config) -> Problem | None:
    """A warning for a ``key_file`` that other users of the machine can read
    (``openssl genrsa`` writes it 0644 under a usual umask): with the private
    key anyone can sign mail as the domain.  None when it is private, absent
    (:func:`key_problem` says that) or not configured."""
    dkim = config.email.dkim
    if dkim is None or dkim.key_file is None:
        return None
    path = config.resolve(dkim.key_file)
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return config.problem(
        ("email", "dkim", "key_file"),
        f"{str(path)!r} can be read by other users of this machine (mode {mode & 0o777:o}): anyone with the private "
        f"key can sign mail as {dkim.domain}; chmod 600 {path}",
    )


def signer(config: Config) -> Signer | None:
    """The config's :class:`Signer`, or None without ``email.dkim``.  Raises
    :class:`ConfigError` (exit 2) saying what is wrong with the key, at its line."""
    dkim = config.email.dkim
    if dkim is None:
        return None

    def problem(key: str, message: str) -> ConfigError:
        return ConfigError(config.problem(("email", "dkim", key), message))

    sender = parseaddr(config.email.from_)[1].rpartition("@")[2].lower()
    if sender and sender.isascii() and sender.split(".")[-2:] != dkim.domain.split(".")[-2:]:
        raise problem(
            "domain",
            f"{dkim.domain!r} is not the sender's domain ({sender}, from email.from): mail providers ignore a "
            f"signature for another domain (DMARC alignment); sign as {sender}",
        )
    if dkim.key_env is not None:
        where, pem_text = "key_env", os.environ.get(dkim.key_env, "")
        if not pem_text.strip():
            state = "not set" if dkim.key_env not in os.environ else "empty"
            raise problem(where, unset_variable(
                dkim.key_env, "key_env", state,
                "it must hold the PEM private key; make one with: openssl genrsa -out dkim.pem 2048",
            ))
        pem_text = pem_text.replace("\r\n", "\n")
        if "\n" not in pem_text.strip() and "\\n" in pem_text:
            pem_text = pem_text.replace("\\n", "\n")  # written on one line with \n for its line breaks (env files)
        source = f"environment variable {dkim.key_env}"
        pem = pem_text.encode("utf-8", "replace")
    else:
        where = "key_file"
        path = config.resolve(dkim.key_file or "")
        source = repr(str(path))
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            raise problem(where, f"{source}: no such file") from None
        except IsADirectoryError:
            raise problem(where, f"{source} is a folder, not a PEM file") from None
        except OSError as exc:
            raise problem(where, f"{source} cannot be read: {exc.strerror}") from None
    if b"-----BEGIN" in pem and b"PUBLIC KEY-----" in pem and b"PRIVATE KEY-----" not in pem:
        raise problem(where, f"{source} holds a public key; signing needs the private key (the public one goes in DNS)")
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:
        raise problem(where, f"{source} holds an encrypted key: give it unencrypted (openssl pkey -in KEY -out PLAIN)") from None
    except (ValueError, UnsupportedAlgorithm):
        # not echoed: it is (meant to be) the private key
        raise problem(where, f"{source} does not hold a PEM private key (-----BEGIN PRIVATE KEY----- ...; not shown)") from None
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise problem(where, f"{source}: an RSA key of {key.key_size} bits; DKIM needs at least {MIN_RSA_BITS} (2048 is usual)")
    try:
        return Signer(dkim.domain, dkim.selector, key)
    except TypeError:
        raise problem(where, f"{source} holds a {type(key).__name__.removeprefix('_')}; DKIM signs with RSA or Ed25519") from None

