"""``newsletter init``: a commented starter ``config.yaml`` that reads live sources.

The shipped ``config.yaml`` runs on sample files; a new user needs one that
fetches today's papers.  :data:`STARTER_CONFIG` is that file: arXiv (by
categories the user edits) and Hugging Face daily papers, a topic written as
keyword rules and one written as a sentence, one subscriber on a schedule,
and the ``outbox`` transport (nothing to set up).  It must validate as
written, without fetching anything (tests/test_starter.py holds it to that).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import ConfigError, Problem
from .files import write_atomic

STARTER_CONFIG = """\
# Paper Digest configuration, written by `newsletter init`.
#
# Next steps:
#   1. Put your address under `subscribers:` and adjust the topics below.
#   2. newsletter validate               # checks this file (add --fetch to try the sources)
#   3. newsletter match                  # which papers each subscriber would get, and why
#   4. newsletter test-email --to you@example.org
#   5. newsletter send                   # or `newsletter run` to send on the schedule
#
# Paths are relative to this file's folder.

timezone: UTC                      # default time zone for schedules (an IANA name: Europe/Berlin)
schedule: daily at 08:00           # default for subscribers without their own schedule
                                   # (or: weekly on monday at 09:00 / every 6 hours)

sources:
  # No network on this machine? Each source reads a saved copy instead of its URL
  # with `path: saved.xml` (README "Offline").
  #
  # The newest arXiv submissions in these categories (edit the list; see
  # https://arxiv.org/category_taxonomy). One request every 3 seconds, 100 papers each.
  - type: arxiv
    name: arXiv
    categories: [cs.LG, cs.CL, stat.ML]
    max_results: 200
    # query: 'all:"diffusion"'     # arXiv search syntax, ANDed with the categories

  # The papers picked on Hugging Face (huggingface.co/papers) over the last 2 days.
  - type: hf-daily
    name: Hugging Face daily papers
    days: 2

topics:
  # A topic as keyword rules: whole words, case-insensitive; `word*` is a prefix,
  # `score-based` also matches `score based`, /.../ is a regular expression.
  diffusion:
    name: Diffusion models         # shown in the email
    any: ["diffusion model*", "score-based", "denoising diffusion", "flow matching"]
    none: ["medical imag*"]        # any of these excludes the paper

  # A topic described in words: papers are ranked by how close they are to it
  # (offline, on this machine), and the best ones above min_score go in.
  molecules:
    name: ML for molecules
    about: >-
      Graph neural networks for molecules: message passing, equivariant
      architectures, property prediction and molecule generation.
    # like: ["ARXIV-ID or title"]  # papers you liked sharpen the ranking (an id no source
    #                              # lists is looked up on the arXiv source above, once)
    # min_score: 0.5               # relevance floor in [0, 1], 0.5 unless set; lower takes more papers

subscribers:
  - email: you@example.org         # <- your address
    name: You
    topics: [diffusion, molecules]
    # schedule: weekly on monday at 08:00   # overrides the default schedule above; the sources
    #                                       # list about a day: for a week's papers, raise
    #                                       # max_results (2000) and days (7) above
    max_papers: 20

email:
  from: "Paper Digest <digest@example.org>"
  # unsubscribe: "mailto:digest@example.org?subject=unsubscribe"
  # dkim:                          # sign the digests, if your relay does not (README "DKIM")
  #   domain: example.org
  #   selector: digest2026
  #   key_env: DKIM_PRIVATE_KEY    # the NAME of the variable holding the PEM private key

# Each digest is written as an .eml file to outbox/ (open it in any mail client).
delivery:
  transport: outbox
  path: outbox
# To send real mail, replace the block above, e.g. (STARTTLS on port 587):
# delivery:
#   transport: smtp
#   host: smtp.fastmail.com
#   port: 587
#   security: starttls
#   username: you@fastmail.com
#   password_env: SMTP_PASSWORD    # the NAME of the variable holding the password

# One-click unsubscribe (RFC 8058; Gmail and Yahoo expect it): run `newsletter serve`
# behind your HTTPS web server and uncomment (see README "Unsubscribe links").
# web:
#   base_url: https://digest.example.org
#   secret_env: NEWSLETTER_SECRET  # the NAME of the variable holding the signing key

# What went to whom: a SQLite file beside this config (newsletter-state.sqlite3).
# For send workers on several hosts, a PostgreSQL database instead (password from
# PGPASSWORD or ~/.pgpass; README "PostgreSQL"; `newsletter state migrate` copies
# the file there first):
# state: postgresql://digest@db.example.org:5432/digest
"""

#: Names of UTC itself, which the starter writes as 'UTC'.
_UTC_NAMES = ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu", "Etc/GMT",
              "GMT", "Etc/Greenwich", "Greenwich", "GMT0", "Etc/GMT0", "GMT+0", "GMT-0", "Etc/GMT+0", "Etc/GMT-0")


def starter_config(zone: str | None = None) -> str:
    """The starter file's text, its time zone ``zone`` as :func:`starter_zone`
    gives it (default: this machine's, :func:`config.machine_zone`, unless
    validate would warn of it).  It said UTC everywhere: a newcomer in Berlin
    who kept it got the 08:00 digest at 09:00 or 10:00."""
    written = "timezone: UTC                      #"
    return STARTER_CONFIG.replace(written, f"{'timezone: ' + (zone or starter_zone()):<34} #", 1)


def starter_zone() -> str:
    """The zone the starter writes: this machine's, or UTC when it is UTC by
    another name or one validate would warn of."""
    from .config import fixed_zone_advice, machine_zone

    zone = machine_zone() or "UTC"
    return "UTC" if zone in _UTC_NAMES or fixed_zone_advice(zone) is not None else zone


def _checkout_note(folder: Path) -> str:
    """Where a config of one's own goes when ``init`` ran in this repository's
    checkout: its config.yaml is the sample the quick start sends, and
    --force, the one way the refusal offered, replaced it."""
    try:
        own = 'name = "paper-digest-mailer"' in (folder / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return ""
    return ("; here it is the checkout's sample config: yours goes in a folder of its own, `newsletter init "
            "~/digest`, then `cd ~/digest`") if own else ""


def write_starter(path: str | os.PathLike, *, force: bool = False, zone: str | None = None) -> Path:
    """Write :func:`starter_config` to ``path`` (a folder, or a new name
    without a suffix, gets ``config.yaml``), its time zone ``zone`` (as
    :func:`starter_zone` gives it; worked out here when not given: ``init``
    gives the one its next-step line names, and each asked the machine).

    Never replaces an existing file unless ``force``; the file appears whole
    or not at all (written to a temporary name, then renamed).  Raises
    :class:`ConfigError` (exit 2) naming the file otherwise.
    """
    target = Path(path)
    # A trailing slash names a folder even before it exists (Path drops the slash);
    # so does a new name without a suffix: `init ~/digest` (README's folder, its
    # mkdir left out) wrote a file named digest, and `cd ~/digest` then failed.
    new_folder = not target.exists() and not target.is_symlink() and not target.suffix
    if target.is_dir() or str(path).endswith(("/", os.sep)) or new_folder:
        target = target / "config.yaml"
    # A link to a file not there now (a dotfiles folder not mounted) is the
    # user's config too: it was replaced by a plain file without --force.
    if target.exists() and not target.is_file():
        # --force renamed the starter over it: /dev/null (as root), a pipe a script reads from
        raise ConfigError(Problem("not a file (a device, a pipe or a socket); never replaced: give init a file's "
                                  "or a folder's path", str(target)))
    if (target.exists() or target.is_symlink()) and not force:
        raise ConfigError(Problem("already exists; not overwritten (use --force to replace it)"
                                  + _checkout_note(target.parent), str(target)))
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            blocker = next(p for p in (target.parent, *target.parent.parents) if p.exists() and not p.is_dir())
            raise ConfigError(Problem(f"cannot write: {blocker} is a file, not a folder", str(target))) from None
        write_atomic(target, starter_config(zone).encode("utf-8"), mode=0o644)
    except OSError as exc:
        said = exc.strerror or str(exc)
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            # `init` run where the user cannot write (/, a colleague's checkout, /srv as oneself):
            # the bare "Permission denied" named neither the folder nor where a config should go
            # the folder it could not make is not there: the nearest one that is, is what is not writable
            folder = next((p for p in (target.parent, *target.parent.parents) if p.exists()), target.parent)
            said += (f" (its folder {os.path.abspath(folder)!r} is not writable for this user): give init a "
                     "folder of your own, `newsletter init ~/digest`")
        raise ConfigError(Problem(f"cannot write: {said}", str(target))) from None
    return target
