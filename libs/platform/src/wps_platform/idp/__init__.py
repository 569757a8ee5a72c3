"""A development OpenID Connect provider on authlib: demo users, the portal's and HR clients."""

from wps_platform.idp.app import create_app
from wps_platform.idp.directory import (
    Academy,
    Client,
    Directory,
    DirectoryUser,
    load_directory,
)
from wps_platform.idp.keys import ALGORITHMS, KeyStore, SigningKey
from wps_platform.idp.provider import DevIdentityProvider
from wps_platform.idp.settings import SESSION_COOKIE, ProviderSettings

__all__ = [
    "ALGORITHMS",
    "SESSION_COOKIE",
    "Academy",
    "Client",
    "DevIdentityProvider",
    "Directory",
    "DirectoryUser",
    "KeyStore",
    "ProviderSettings",
    "SigningKey",
    "create_app",
    "load_directory",
]
