"""WeCom's API through wechatpy, with the access token every process shares.

`WecomClient` is wechatpy's enterprise `WeChatClient` with three changes: the API base URL comes
from the account (a fake WeCom in tests), the access token lives in the shared token store (one
fetch for all processes, refreshed 5 minutes before it expires, and again when WeCom answers
40014 invalid or 42001 expired — once, not in wechatpy's unbounded retry), and WeCom's errors become
`WecomApiError`, transient (rate limit 45009, system busy -1, network trouble) or not. Endpoints
wechatpy 1.8 lacks (batch get-by-user, …) go through its `post`.
"""
from __future__ import annotations

import requests
from wechatpy.enterprise import WeChatClient
from wechatpy.exceptions import WeChatClientException

from campaigner.token_store import get_token, refresh_token
from campaigner.wecom.accounts import WecomAccount

TOKEN_ERRORS = (40014, 42001)  # the token is invalid / expired: fetch another and try once more
TRANSIENT_ERRORS = (-1, 45009, 45033, 45035)  # busy, API rate limits: try again later


class WecomApiError(Exception):
    """WeCom answered an error (or could not be reached); `transient` says whether a retry may succeed."""

    def __init__(self, errcode: int | None, errmsg: str, transient: bool = False):
        super().__init__(f"WeCom error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.transient = transient


class WecomClient(WeChatClient):
    """wechatpy's WeCom client on one account, its token shared through the database."""

    def __init__(self, account: WecomAccount, timeout: float = 10.0):
        self.account = account
        self.API_BASE_URL = account.api_base_url
        super().__init__(account.corp_id, account.secret, timeout=timeout, auto_retry=False)

    @property
    def token_key(self) -> str:
        # The secret's prefix as wechatpy does: a rotated secret gets a token of its own.
        return f"wecom:{self.account.corp_id}:{self.account.secret[:10]}"

    @property
    def access_token(self) -> str:
        return get_token(self.token_key, self._fetch_token)

    def fetch_access_token(self):
        return refresh_token(self.token_key, self._fetch_token)

    def _fetch_token(self) -> tuple[str, float]:
        try:
            response = self._http.get(self.API_BASE_URL + "gettoken", timeout=self.timeout,
                                      params={"corpid": self.account.corp_id, "corpsecret": self.account.secret})
            result = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise WecomApiError(None, f"gettoken failed: {type(exc).__name__}", transient=True) from None
        if result.get("errcode"):
            raise WecomApiError(result["errcode"], result.get("errmsg", ""),
                                transient=result["errcode"] in TRANSIENT_ERRORS)
        return result["access_token"], float(result.get("expires_in", 7200))

    def _request(self, method, url_or_endpoint, **kwargs):
        params = dict(kwargs.pop("params", None) or {})
        for attempt in (1, 2):
            call_params = dict(params)
            try:
                return super()._request(method, url_or_endpoint, params=call_params, **dict(kwargs))
            except WeChatClientException as exc:
                if exc.errcode in TOKEN_ERRORS and attempt == 1 and "access_token" not in params:
                    refresh_token(self.token_key, self._fetch_token, stale=call_params.get("access_token"))
                    continue
                transient = exc.errcode in TRANSIENT_ERRORS or exc.errcode is None
                raise WecomApiError(exc.errcode, str(exc.errmsg or ""), transient=transient) from None
            except requests.RequestException as exc:
                raise WecomApiError(None, f"{type(exc).__name__}", transient=True) from None
        raise AssertionError("unreachable")

    # -------------------------------------------------------------- endpoints wechatpy 1.8 lacks

    def batch_get_by_user(self, userids: list[str], cursor: str = "", limit: int = 100) -> dict:
        """Customers of these staff accounts with their follow info, a page at a time (cursor paging)."""
        return self.post("externalcontact/batch/get_by_user",
                         data={"userid_list": userids, "cursor": cursor, "limit": limit})
