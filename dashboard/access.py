"""Who a login may see and prescribe for (issue 23): ONE place the pages ask.

``visible_people(request)`` is the set of person ids this request's login may see (their
adherence) and prescribe for, or ``ALL``. Today every login is the household's admin, so it
is ``ALL``; the roles policy (admin / person / therapist linked to client person ids) plugs
in here and nowhere else: the prescription and adherence routes call ``may_see`` only.
"""

from __future__ import annotations

from starlette.requests import Request


class _All:
    """Every person (an admin login)."""

    def __contains__(self, person_id: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALL"


ALL = _All()


def visible_people(request: Request) -> set[str] | _All:
    """The person ids this login may see and prescribe for: ``ALL`` for today's logins
    (the household's admin). The roles policy replaces this body."""
    return ALL


def may_see(request: Request, person_id: str) -> bool:
    """This login may see ``person_id``'s data and prescribe for them."""
    return person_id in visible_people(request)
