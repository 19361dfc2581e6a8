"""Signed subscription links: the one place that knows how a token is made.

A token is the subscriber's address (lower-cased) signed with HMAC-SHA256
under the secret named by ``web.secret_env`` (:mod:`itsdangerous`, with a
salt of its own so the key signs nothing else).  It names exactly one
subscriber: changing a character of the address, the signature or the
length makes :meth:`Links.email` refuse it, and a token cannot be moved to
another address without the secret.  Tokens do not expire: a digest from
last year must still unsubscribe its reader.  After a change of key (one
that leaked), the keys used before, named by ``web.old_secret_env``, still
check the links they signed; new links are signed with the current key only.

The emails (:mod:`messages`, :mod:`rendering`) put :meth:`Links.unsubscribe_url`
in the footer and in List-Unsubscribe; the web app (:mod:`web`) reads the
token back from the same paths (:data:`UNSUBSCRIBE_PATH`, :data:`RESUBSCRIBE_PATH`).
The secret is read from the environment, never from the config, and is
never logged or shown.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable

from .config import Config, check_address, line_break_hint, unset_variable
from .errors import ConfigError, Problem

#: Path of the unsubscribe page under ``web.base_url`` (the web app's route).
UNSUBSCRIBE_PATH = "/unsubscribe/{token}"
#: Path of the re-subscribe page under ``web.base_url``.
RESUBSCRIBE_PATH = "/resubscribe/{token}"
#: A shorter key could be guessed offline from one link.
MIN_SECRET_CHARS = 16
_SALT = "paper-digest.subscription.v1"


class BadToken(ValueError):
    """A token that is forged, cut short, altered, or not one of ours."""


class Links:
    """Signs and checks subscription tokens; builds the links that carry them."""

    def __init__(self, base_url: str, secret: str, old: tuple[str, ...] = ()) -> None:
        """``old``: keys that signed links before ``secret`` did; they only check."""
        self.base_url = base_url.rstrip("/")
        self._serializer = _serializer(secret)
        self._old = tuple(_serializer(key) for key in dict.fromkeys(old) if key != secret)
        self._tokens: dict[str, str] = {}

    def token(self, email: str) -> str:
        """The token for ``email`` (the same every time: links in old digests keep working)."""
        key = email.strip().lower()
        token = self._tokens.get(key)
        if token is None:
            if len(self._tokens) >= 100_000:
                self._tokens.clear()
            token = self._tokens[key] = self._serializer.dumps(key)
        return token

    def email(self, token: str) -> str:
        """The address a token names; :class:`BadToken` unless we signed it,
        with the current key or one of the old ones."""
        email = self._signed_by(self._serializer, token, self.token)
        if email is None:
            email = next(filter(None, (self._signed_by(old, token, old.dumps) for old in self._old)), None)
        if email is None:
            raise BadToken("not a valid link")
        return email

    @staticmethod
    def _signed_by(serializer, token: str, made: Callable[[str], str]) -> str | None:
        """The address ``token`` names if ``serializer``'s key made it, else None."""
        from itsdangerous import BadData

        try:
            value = serializer.loads(token)
            email = check_address(value)
        except (BadData, ValueError, TypeError, UnicodeError):
            return None
        # base64 decoding drops the last character's spare bits: 'Ptg4' and
        # 'Ptg5' read alike, and only the token we made is one of ours
        return email if isinstance(value, str) and made(value) == token else None

    def signed_elsewhere(self, token: str) -> str | None:
        """The address a well-formed token names when its signature is not
        ours (another key made it), else None.  Never a reason to act on the
        token: only to tell the operator that the links going out may be
        signed with another key than the one checking them."""
        signature = token.rpartition(".")[2]
        if len(signature) != len(self.token("x@example.org").rpartition(".")[2]):
            return None  # cut short or padded (a mail client's line wrap): not another key's work
        try:
            valid, value = self._serializer.loads_unsafe(token)
        except Exception:  # itsdangerous's own decoding of a stranger's bytes
            return None
        if valid or not isinstance(value, str):
            return None
        try:
            return check_address(value)
        except ValueError:
            return None

    def unsubscribe_url(self, email: str) -> str:
        return self.base_url + UNSUBSCRIBE_PATH.format(token=self.token(email))

    def resubscribe_url(self, email: str) -> str:
        return self.base_url + RESUBSCRIBE_PATH.format(token=self.token(email))


def _serializer(secret: str):
    # Imported here: only a config with `web:` signs anything.
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


#: How to make a signing key, said where a key is missing or too short.
MAKE_A_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


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
            unset_variable(name, "secret_env", "empty" if secret == "" else "not set",
                           "it must hold the key that signs unsubscribe links, the "
                           f"same one `newsletter serve` checks them with; for a first key: {MAKE_A_KEY}"),
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
