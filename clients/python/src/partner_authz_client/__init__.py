"""partner-authz-client: a fail-closed client for the partner-authz HTTP API.

    from partner_authz_client import AuthzClient
    with AuthzClient("http://127.0.0.1:8000", api_key) as authz:
        if authz.is_allowed("user:3", "access_account", "organization:3"):
            ...

The Flask decorator lives in partner_authz_client.flask (Flask is an optional extra).
"""
from .answers import Decision, Subject
from .client import AuthzClient
from .errors import AuthzError, AuthzProtocolError, AuthzRequestError, AuthzUnavailable

__all__ = ["AuthzClient", "Decision", "Subject", "AuthzError", "AuthzProtocolError", "AuthzRequestError",
           "AuthzUnavailable"]
__version__ = "0.1.0"
