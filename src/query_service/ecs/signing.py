"""SigV4 signing of calls to the private API (``INTERNAL_API_AUTH=iam``).

The private REST API authorises with ``AWS_IAM``: each request carries a signature of its
method, path, headers and body made with the task role's credentials (service
``execute-api``). botocore signs; its credential chain finds the task role and refreshes it.
"""

from __future__ import annotations

from collections.abc import Mapping

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import get_session

SERVICE = "execute-api"


class MissingCredentials(RuntimeError):
    pass


class SigV4Signer:
    def __init__(self, region: str, credentials: Credentials | None = None) -> None:
        self.region = region
        found = credentials or get_session().get_credentials()
        if found is None:
            raise MissingCredentials(
                "INTERNAL_API_AUTH=iam but no AWS credentials were found (task role, "
                "environment or profile)"
            )
        self._credentials: Credentials = found

    def sign(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        """``headers`` plus Authorization, X-Amz-Date and (with a session) X-Amz-Security-Token."""
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(self._credentials.get_frozen_credentials(), SERVICE, self.region).add_auth(
            request
        )
        return dict(request.headers.items())
