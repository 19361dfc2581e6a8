"""Subscription links: the one place that knows how a token is made.

A token names one subscriber (the address, lower-cased) without showing it:
the address is encrypted with AES-SIV (RFC 5297, from the ``cryptography``
package the DKIM signatures already use) under a key derived with HKDF from
the secret named by ``web.secret_env``.  Why this way:

- AES-SIV is authenticated encryption, so a token changed by one
  character, cut short, or made without the key is refused, as a signature
  refused it before; and it is deterministic (no nonce), so an address gets
  the same token every time: preview shows the links send sends, and a
  token can be looked up in a cache.
- The address cannot be read from the URL without the key.  The tokens
  before this (``itsdangerous``'s signed base64) carried it readable: a link
  forwarded, logged by a proxy or shared in a screenshot gave the address away.
- The token is self-contained: ``serve`` reads the address from the token
  itself, not from a table of the config's subscribers, so a subscriber
  removed from the config (or added after ``serve`` started) is still
  unsubscribed by the link in their last digest.
- The address is padded to a multiple of :data:`PAD` bytes, so the token's
  length says little about the address's.

Layout (base64url, no padding): version byte :data:`VERSION`, a 4-byte key
id, then the SIV ciphertext; the version and key id are authenticated with
it.  The key id (a value derived from the key that tells nothing about it)
picks the key that opens the token; ``send`` records the id of its key in
the state, and a refused link carrying a recorded id that ``serve`` has no
key for is the sign of ``send`` and ``serve`` running with different secrets.

Links already sent keep working: a token holding a ``.`` is one of the
earlier signed tokens, and is accepted when its signature checks under the
current key or one of the old ones.  Tokens do not expire: a digest from
last year must still unsubscribe its reader.  After a change of key (one
that leaked), the keys used before, named by ``web.old_secret_env``, still
open the links they made; new links are made with the current key only.

The emails (:mod:`messages`, :mod:`rendering`) put :meth:`Links.unsubscribe_url`
in the footer and in List-Unsubscribe; the web app (:mod:`web`) reads the
token back from the same paths (:data:`UNSUBSCRIBE_PATH`, :data:`RESUBSCRIBE_PATH`).
The secret is read from the environment, never from the config, and is
never logged or shown.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os

from .config import MAKE_A_KEY, SECRET_HOLDS, Config, check_address, line_break_hint, unset_variable
from .errors import ConfigError, Problem

#: Path of the unsubscribe page under ``web.base_url`` (the web app's route).
UNSUBSCRIBE_PATH = "/unsubscribe/{token}"
#: Path of the re-subscribe page under ``web.base_url``.
RESUBSCRIBE_PATH = "/resubscribe/{token}"
#: A shorter key could be guessed offline from one link.
MIN_SECRET_CHARS = 16
#: The first byte of every token made now (the signed tokens before had none: they hold a ``.``).
VERSION = 2
#: The address is padded to a multiple of this many bytes, and to at least twice it.
PAD = 16
_KEY_ID_BYTES = 4
_HEAD_BYTES = 1 + _KEY_ID_BYTES
_TAG_BYTES = 16  # AES-SIV's synthetic IV
#: Longer than any token made for an address (254 characters at most): not one of ours, unread.
MAX_TOKEN_CHARS = 512
_SALT = b"paper-digest.subscription.v2"
_LEGACY_SALT = "paper-digest.subscription.v1"


class BadToken(ValueError):
    """A token that is forged, cut short, altered, or not one of ours."""


class _Key:
    """One secret's keys: the AES-SIV key that seals addresses, and the id that
    names it in a token; both derived with HKDF, each for its own use, so the
    secret itself encrypts nothing."""

    def __init__(self, secret: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV

        self.secret = secret
        self.head = bytes([VERSION]) + _derive(secret, b"key id", _KEY_ID_BYTES)
        self._siv = AESSIV(_derive(secret, b"aes-siv address", 64))  # AES-256-SIV: two 256-bit keys

    def seal(self, email: str) -> str:
        data = email.encode("utf-8")
        padded = data.ljust(max(2 * PAD, -(-len(data) // PAD) * PAD), b"\0")
        return _encode(self.head + self._siv.encrypt(padded, [self.head]))

    def open(self, raw: bytes) -> str | None:
        """The address ``raw`` (a decoded token carrying this key's id) holds, None unless this key sealed it."""
        from cryptography.exceptions import InvalidTag

        try:
            padded = self._siv.decrypt(raw[_HEAD_BYTES:], [raw[:_HEAD_BYTES]])
            value = padded.rstrip(b"\0").decode("utf-8")
            email = check_address(value)
        except (InvalidTag, ValueError, UnicodeError):
            return None
        return email if value == value.strip().lower() else None

    @functools.cached_property
    def legacy(self):
        """The serializer of the signed tokens made before (``itsdangerous``,
        HMAC-SHA256): they still check the links already sent.  Made when the
        first such link comes: a send never needs it."""
        from itsdangerous import URLSafeSerializer

        return URLSafeSerializer(self.secret, salt=_LEGACY_SALT, signer_kwargs={"digest_method": hashlib.sha256})


def _derive(secret: str, use: bytes, length: int) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(hashes.SHA256(), length, _SALT, use).derive(secret.encode("utf-8"))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(token: str) -> bytes | None:
    """The bytes of a token as we write them, None for anything else: base64
    decoding drops the last character's spare bits ('Ptg4' and 'Ptg5' read
    alike), and only the token we made is one of ours."""
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if _encode(raw) == token else None


def _shaped(raw: bytes | None) -> bool:
    """Whether decoded bytes have a made token's shape (version, head, whole pad blocks)."""
    if not raw:
        return False
    body = len(raw) - _HEAD_BYTES - _TAG_BYTES
    return raw[0] == VERSION and body >= 2 * PAD and body % PAD == 0


class Links:
    """Makes and opens subscription tokens; builds the links that carry them."""

    def __init__(self, base_url: str, secret: str, old: tuple[str, ...] = ()) -> None:
        """``old``: keys that made links before ``secret`` did; they only open."""
        self.base_url = base_url.rstrip("/")
        self._key = _Key(secret)
        self._keys = (self._key, *(_Key(key) for key in dict.fromkeys(old) if key != secret))
        self._tokens: dict[str, str] = {}

    def token(self, email: str) -> str:
        """The token for ``email`` (the same every time: links in old digests keep working)."""
        key = email.strip().lower()
        token = self._tokens.get(key)
        if token is None:
            if len(self._tokens) >= 100_000:
                self._tokens.clear()
            token = self._tokens[key] = self._key.seal(key)
        return token

    def email(self, token: str) -> str:
        """The address a token names; :class:`BadToken` unless we made it,
        with the current key or one of the old ones (either kind of token)."""
        if "." in token:
            email = next(filter(None, (_signed_by(key.legacy, token) for key in self._keys)), None)
        else:
            raw = _decode(token)
            email = None
            if raw is not None and _shaped(raw):
                email = next(filter(None, (key.open(raw) for key in self._keys if raw.startswith(key.head))), None)
        if email is None:
            raise BadToken("not a valid link")
        return email

    @property
    def key_id(self) -> str:
        """The id of the key new links are made with (hex; it tells nothing
        about the key): ``send`` records it in the state, so that ``serve``
        can tell a link made by a real send with another key (see
        :meth:`foreign_key_id`) from a made-up one."""
        return self._key.head[1:].hex()

    def foreign_key_id(self, token: str) -> str | None:
        """The key id a refused token of our shape carries when it is none of
        ours (which address it holds cannot be known, which is the point),
        else None.  Anyone can write such a token with any id: only an id a
        send recorded (:attr:`key_id`) says that the links going out are
        made with another key than the ones opening them.  A token cut short
        (a mail client's line wrap) is not another key's work, nor is a
        signed one from before: those name their address readable, and a
        forger can write them too."""
        if "." in token:
            return None
        raw = _decode(token)
        if raw is None or not _shaped(raw) or any(raw.startswith(key.head) for key in self._keys):
            return None
        return raw[1:_HEAD_BYTES].hex()

    def unsubscribe_url(self, email: str) -> str:
        return self.base_url + UNSUBSCRIBE_PATH.format(token=self.token(email))

    def resubscribe_url(self, email: str) -> str:
        return self.base_url + RESUBSCRIBE_PATH.format(token=self.token(email))


def _signed_by(serializer, token: str) -> str | None:
    """The address a signed token from before names if ``serializer``'s key signed it, else None."""
    from itsdangerous import BadData

    try:
        value = serializer.loads(token)
        email = check_address(value)
    except (BadData, ValueError, TypeError, UnicodeError):
        return None
    # base64 decoding drops the last character's spare bits: 'Ptg4' and
    # 'Ptg5' read alike, and only the token the key made is one of ours
    return email if isinstance(value, str) and serializer.dumps(value) == token else None


def secret_problem(config: Config) -> Problem | None:
    """Why the signing key cannot be used (unset, too short, or holding a line break), located at
    ``web.secret_env``; None when it is fine or ``web:`` is not configured."""
    if config.web is None:
        return None
    name = config.web.secret_env
    secret = os.environ.get(name)
    if not secret:
        return config.problem(
            ("web", "secret_env"),
            unset_variable(name, "secret_env", "empty" if secret == "" else "not set", SECRET_HOLDS),
        )
    cr = line_break_hint(secret)
    if cr is not None:
        # links signed with it fail to verify wherever the key is read without it (serve)
        return config.problem(
            ("web", "secret_env"),
            f"environment variable {name} holds a line break{cr}; a signing key cannot hold one "
            "(not shown: it is the secret)",
        )
    if len(secret) < MIN_SECRET_CHARS:
        return config.problem(
            ("web", "secret_env"),
            f"environment variable {name} holds {len(secret)} characters; "
            f"a signing key needs at least {MIN_SECRET_CHARS} (a random one: {MAKE_A_KEY})",
        )
    return None


def old_secrets_problem(config: Config) -> Problem | None:
    """Why the old keys (``web.old_secret_env``) cannot be used: the variable
    unset or empty (every link they signed would be refused), or a key in it
    too short; None when they are fine or not configured.  Only ``serve``
    and ``validate`` ask: nothing else reads them."""
    if config.web is None or config.web.old_secret_env is None:
        return None
    name, where = config.web.old_secret_env, ("web", "old_secret_env")
    keys = os.environ.get(name, "").split()
    if not keys:
        return config.problem(where, unset_variable(
            name, "old_secret_env", "empty" if name in os.environ else "not set",
            "it must hold the keys that signed the links of digests already sent, separated by spaces; "
            "leave old_secret_env out when there are none"))
    short = [n for n, key in enumerate(keys, 1) if len(key) < MIN_SECRET_CHARS]
    if short:
        return config.problem(where, f"environment variable {name}: its key {short[0]} holds fewer than "
                                     f"{MIN_SECRET_CHARS} characters: not a signing key (not shown)")
    return None


def old_secrets(config: Config) -> tuple[str, ...]:
    """The keys ``web.old_secret_env`` holds (none when it is unset)."""
    if config.web is None or config.web.old_secret_env is None:
        return ()
    return tuple(os.environ.get(config.web.old_secret_env, "").split())


def links(config: Config) -> Links | None:
    """The config's :class:`Links`, or None without ``web:``.

    Raises :class:`ConfigError` (exit 2, ``FILE:LINE: web.secret_env: ...``)
    when the secret is missing, so a command fails before it sends anything.
    """
    if config.web is None:
        return None
    problem = secret_problem(config)
    if problem is not None:
        raise ConfigError(problem)
    return _links(config.web.base, os.environ[config.web.secret_env], old_secrets(config))


@functools.lru_cache(maxsize=8)
def _links(base_url: str, secret: str, old: tuple[str, ...]) -> Links:
    return Links(base_url, secret, old)
