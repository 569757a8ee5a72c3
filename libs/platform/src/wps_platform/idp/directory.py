"""The development directory: academies, demo users and OAuth clients, read from one YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEMO_DIRECTORY = Path(__file__).with_name("demo_directory.yaml")
DEFAULT_PORTAL_URL = "http://localhost:8005"

Role = Literal[
    "wps-admin", "wps-academy-admin", "wps-instructor", "wps-reviewer", "wps-trainee", "wps-hr"
]
Locale = Literal["en", "ru", "kk"]
GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]


class _Entry(BaseModel):
    # A typo in the YAML should fail loudly at start, not silently drop a field.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Academy(_Entry):
    code: str
    name: str
    country: str
    time_zone: str
    languages: list[Locale]  # the order texts fall back through
    names: dict[Locale, str] = Field(default_factory=dict)  # the name in each language


class DirectoryUser(_Entry):
    sub: str
    username: str
    given_name: str
    family_name: str
    email: str
    roles: list[Role]
    locale: Locale
    academy: str | None = None
    employee_number: str | None = None
    # Trainee record fields: other components seed trainees from these; they are not token claims.
    gender: Literal["female", "male"] | None = None
    rank: str | None = None
    unit: str | None = None

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Client(_Entry):
    client_id: str
    description: str = ""
    # None makes a public client (token_endpoint_auth_method "none", PKCE only).
    secret: str | None = None
    grant_types: list[GrantType]
    redirect_uris: list[str] = Field(default_factory=list)
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    scopes: list[str] = Field(default_factory=list)
    # Realm roles of the client's service account (client_credentials tokens).
    roles: list[Role] = Field(default_factory=list)

    @property
    def is_public(self) -> bool:
        return self.secret is None


class Directory(_Entry):
    password: str
    academies: list[Academy]
    users: list[DirectoryUser]
    clients: list[Client]

    @model_validator(mode="after")
    def _references_resolve(self) -> Directory:
        codes = {academy.code for academy in self.academies}
        for user in self.users:
            if user.academy is not None and user.academy not in codes:
                raise ValueError(f"user {user.username}: unknown academy {user.academy}")
        for kind, names in (
            ("username", [u.username for u in self.users]),
            ("sub", [u.sub for u in self.users]),
            ("client_id", [c.client_id for c in self.clients]),
        ):
            if len(names) != len(set(names)):
                raise ValueError(f"duplicate {kind} in the directory")
        return self

    def user_by_username(self, username: str) -> DirectoryUser | None:
        return next((u for u in self.users if u.username == username), None)

    def user_by_sub(self, sub: str) -> DirectoryUser | None:
        return next((u for u in self.users if u.sub == sub), None)

    def client(self, client_id: str) -> Client | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    def academy(self, code: str) -> Academy | None:
        return next((a for a in self.academies if a.code == code), None)


def load_directory(
    path: Path | str | None = None, *, portal_url: str = DEFAULT_PORTAL_URL
) -> Directory:
    """Read the directory YAML (the bundled demo one by default).

    `{portal}` in client URIs becomes `portal_url`, so one file serves any portal address.
    """
    source = Path(path) if path is not None else DEMO_DIRECTORY
    text = source.read_text(encoding="utf-8").replace("{portal}", portal_url.rstrip("/"))
    return Directory.model_validate(yaml.safe_load(text))
