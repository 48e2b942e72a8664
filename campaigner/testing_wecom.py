"""A fake WeCom for tests and benchmarks: the customer-contact API on loopback, and signed callbacks.

    from campaigner.testing_wecom import FakeWecom, CallbackSender

    with FakeWecom() as wecom:
        wecom.add_staff("zhangsan", "张三")
        wecom.add_customer("wmABC", "王芳", staff="zhangsan", unionid="ou-1", state="spring")
        config = wecom.channel_config()          # the `wecom` channel's config pointing at it
        ...
        sender = CallbackSender("http://127.0.0.1:5000/hooks/wecom/main", wecom.callback_token,
                                wecom.encoding_aes_key, wecom.corp_id)
        sender.post(sender.add_external_contact("zhangsan", "wmABC", state="spring"))   # signed, encrypted
        sender.post({...}, sign=False)                                                  # a wrong signature

Endpoints (under ``/cgi-bin/``, WeCom's documented request and response shapes; every answer
carries ``errcode``/``errmsg``):

- ``GET gettoken?corpid&corpsecret`` -> ``{access_token, expires_in}``; 40013 wrong corp id,
  40001 wrong secret. Tokens expire after `token_ttl` seconds (or at once with `expire_tokens()`);
  an expired token is answered 42001, an unknown one 40014.
- ``GET externalcontact/get_follow_user_list`` -> ``{follow_user: [userid…]}``
- ``GET user/get?userid`` -> ``{userid, name, department: [..], status}``; 60111 unknown userid.
- ``POST externalcontact/batch/get_by_user {userid_list, cursor, limit≤100}`` ->
  ``{external_contact_list: [{external_contact: {external_userid, name, type, unionid, …},
  follow_info: {userid, remark, createtime, tag_id: [..], state, add_way}}], next_cursor}``;
  60111 when a userid is unknown, 40058 for a bad limit.
- ``GET externalcontact/get?external_userid`` -> ``{external_contact, follow_user: [..]}``; 40096 unknown.
- ``POST externalcontact/groupchat/list {status_filter, cursor, limit≤1000}`` ->
  ``{group_chat_list: [{chat_id, status}], next_cursor}``
- ``POST externalcontact/groupchat/get {chat_id}`` -> ``{group_chat: {chat_id, name, owner, create_time,
  notice, member_list: [{userid, type (1 staff, 2 external), join_time, join_scene, unionid}], admin_list}}``;
  40050 unknown chat.
- ``POST externalcontact/get_corp_tag_list`` -> ``{tag_group: [{group_id, group_name, tag: [{id, name}]}]}``
- ``POST externalcontact/mark_tag {userid, external_userid, add_tag, remove_tag}``; 301002 unknown tag id.
- ``POST externalcontact/add_msg_template {chat_type, external_userid, sender, text}`` -> ``{msgid, fail_list}``

`fail_next(n, errcode)` makes the next n API calls (not gettoken) answer that error — 45009 is
WeCom's rate limit. `calls` records every request. The fake's clock is the real one.
"""
from __future__ import annotations

import base64
import json
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto

__all__ = ["FakeWecom", "CallbackSender", "WecomCall"]

ERRMSG = {
    0: "ok", 40001: "invalid credential", 40013: "invalid corpid", 40014: "invalid access_token",
    42001: "access_token expired", 45009: "api freq out of limit", 60111: "userid not found",
    40096: "invalid external userid", 40050: "invalid chatid", 40058: "invalid limit", 41001: "access_token missing",
    301002: "invalid tag id", -1: "system busy",
}


def random_aes_key() -> str:
    """A random EncodingAESKey (43 characters of base64)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()[:43]


@dataclass
class WecomCall:
    method: str
    path: str  # without /cgi-bin/
    params: dict[str, str]
    body: Any


@dataclass
class _Customer:
    external_userid: str
    name: str
    unionid: str = ""
    type: int = 1
    follow: dict[str, dict] = field(default_factory=dict)  # userid -> follow info


class FakeWecom:
    """A WeCom customer-contact API on 127.0.0.1 (see the module docstring for what it answers)."""

    def __init__(self, corp_id: str = "ww-fake-corp", secret: str = "fake-contact-secret",
                 callback_token: str = "fake-callback-token", encoding_aes_key: str | None = None,
                 token_ttl: float = 7200):
        self.corp_id, self.secret = corp_id, secret
        self.callback_token = callback_token
        self.encoding_aes_key = encoding_aes_key or random_aes_key()
        self.token_ttl = token_ttl
        self.staff: dict[str, dict] = {}
        self.customers: dict[str, _Customer] = {}
        self.groups: dict[str, dict] = {}
        self.tag_groups: list[dict] = []
        self.templates: list[dict] = []  # mass-message tasks created (staff confirm them in WeCom)
        self.calls: list[WecomCall] = []
        self.token_fetches = 0
        self._tokens: dict[str, float] = {}  # token -> expires (monotonic)
        self._failures: list[int] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ data

    def add_staff(self, userid: str, name: str = "", department: list[int] | None = None) -> None:
        with self._lock:
            self.staff[userid] = {"userid": userid, "name": name or userid, "department": department or [1]}

    def add_customer(self, external_userid: str, name: str, *, staff: str, unionid: str = "", state: str = "",
                     add_way: int = 1, remark: str = "", createtime: int | None = None,
                     tag_ids: list[str] | None = None, type: int = 1) -> None:
        with self._lock:
            customer = self.customers.setdefault(external_userid, _Customer(external_userid, name, unionid, type))
            customer.follow[staff] = {"userid": staff, "remark": remark, "description": "",
                                      "createtime": createtime or int(time.time()), "tag_id": list(tag_ids or []),
                                      "state": state, "add_way": add_way, "oper_userid": staff}

    def remove_follow(self, external_userid: str, staff: str) -> None:
        with self._lock:
            self.customers[external_userid].follow.pop(staff, None)

    def add_group(self, chat_id: str, name: str, owner: str, *, members: list[dict] | None = None,
                  notice: str = "", create_time: int | None = None) -> None:
        """`members`: [{"userid": …, "type": 1 staff | 2 external, "join_time", "join_scene"}]."""
        with self._lock:
            self.groups[chat_id] = {"chat_id": chat_id, "name": name, "owner": owner, "notice": notice,
                                    "create_time": create_time or int(time.time()), "status": 0,
                                    "member_list": [dict(m) for m in (members or [])],
                                    "admin_list": []}

    def add_tag_group(self, group_id: str, group_name: str, tags: list[tuple[str, str]]) -> None:
        with self._lock:
            self.tag_groups.append({"group_id": group_id, "group_name": group_name, "create_time": int(time.time()),
                                    "order": 0, "tag": [{"id": i, "name": n, "create_time": int(time.time()),
                                                         "order": 0} for i, n in tags]})

    def channel_config(self, account: str = "main") -> dict:
        """The `wecom` channel config that points at this fake."""
        return {"account": account, "corp_id": self.corp_id, "secret": self.secret,
                "callback_token": self.callback_token, "encoding_aes_key": self.encoding_aes_key,
                "api_base_url": self.api_base_url}

    # ------------------------------------------------------------ behaviour

    def expire_tokens(self) -> None:
        """Every token handed out so far expires now (the next call with one is answered 42001)."""
        with self._lock:
            self._tokens = {token: 0.0 for token in self._tokens}

    def fail_next(self, count: int = 1, errcode: int = 45009) -> None:
        """The next `count` API calls (gettoken excepted) answer `errcode` (45009: the rate limit)."""
        with self._lock:
            self._failures += [errcode] * count

    def calls_to(self, path: str) -> list[WecomCall]:
        return [c for c in self.calls if c.path == path]

    # ------------------------------------------------------------ server

    @property
    def api_base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/cgi-bin/"

    def __enter__(self) -> "FakeWecom":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                fake._handle(self)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="fake-wecom").start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            body = None
        path = parts.path.removeprefix("/cgi-bin/")
        with self._lock:
            self.calls.append(WecomCall(handler.command, path, params, body))
            answer = self._answer(handler.command, path, params, body)
        data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _error(self, errcode: int) -> dict:
        return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}

    def _answer(self, method: str, path: str, params: dict, body: Any) -> dict:
        if path == "gettoken":
            if params.get("corpid") != self.corp_id:
                return self._error(40013)
            if params.get("corpsecret") != self.secret:
                return self._error(40001)
            self.token_fetches += 1
            token = "tok-" + uuid.uuid4().hex
            self._tokens[token] = time.monotonic() + self.token_ttl
            return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": int(self.token_ttl)}
        token = params.get("access_token")
        if not token:
            return self._error(41001)
        if token not in self._tokens:
            return self._error(40014)
        if self._tokens[token] <= time.monotonic():
            return self._error(42001)
        if self._failures:
            return self._error(self._failures.pop(0))
        if body is None:
            return self._error(47001)
        route = ROUTES.get(path)
        if route is None:
            return {"errcode": 404, "errmsg": f"unknown api {path}"}
        return route(self, params, body or {})

    # ------------------------------------------------------------ endpoints

    def _follow_users(self, params, body):
        return {"errcode": 0, "errmsg": "ok", "follow_user": sorted(self.staff)}

    def _user_get(self, params, body):
        user = self.staff.get(params.get("userid", ""))
        if user is None:
            return self._error(60111)
        return {"errcode": 0, "errmsg": "ok", "status": 1, **user}

    def _contact_json(self, customer: _Customer) -> dict:
        data = {"external_userid": customer.external_userid, "name": customer.name, "type": customer.type,
                "avatar": "", "gender": 0}
        if customer.unionid:
            data["unionid"] = customer.unionid
        return data

    def _follow_json(self, follow: dict) -> dict:
        info = {k: v for k, v in follow.items() if k != "tag_id"}
        info["tag_id"] = list(follow["tag_id"])
        return info

    def _batch_get_by_user(self, params, body):
        userids = body.get("userid_list") or []
        limit = body.get("limit", 50)
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            return self._error(40058)
        if any(u not in self.staff for u in userids):
            return self._error(60111)
        rows = sorted((userid, ext) for ext, c in self.customers.items() for userid in c.follow if userid in userids)
        start = _decode_cursor(body.get("cursor") or "")
        page = rows[start:start + limit]
        result = [{"external_contact": self._contact_json(self.customers[ext]),
                   "follow_info": self._follow_json(self.customers[ext].follow[userid])} for userid, ext in page]
        more = start + limit < len(rows)
        return {"errcode": 0, "errmsg": "ok", "external_contact_list": result,
                "next_cursor": _encode_cursor(start + limit) if more else ""}

    def _contact_get(self, params, body):
        customer = self.customers.get(params.get("external_userid", ""))
        if customer is None:
            return self._error(40096)
        return {"errcode": 0, "errmsg": "ok", "external_contact": self._contact_json(customer),
                "follow_user": [self._follow_json(f) for _, f in sorted(customer.follow.items())]}

    def _group_list(self, params, body):
        limit = body.get("limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            return self._error(40058)
        chats = sorted(self.groups)
        start = _decode_cursor(body.get("cursor") or "")
        page = chats[start:start + limit]
        more = start + limit < len(chats)
        return {"errcode": 0, "errmsg": "ok",
                "group_chat_list": [{"chat_id": c, "status": self.groups[c]["status"]} for c in page],
                "next_cursor": _encode_cursor(start + limit) if more else ""}

    def _group_get(self, params, body):
        group = self.groups.get(body.get("chat_id", ""))
        if group is None:
            return self._error(40050)
        detail = {k: v for k, v in group.items() if k != "status"}
        members = []
        for m in group["member_list"]:
            member = {"userid": m["userid"], "type": m.get("type", 2), "join_time": m.get("join_time", group["create_time"]),
                      "join_scene": m.get("join_scene", 1), "invitor": {"userid": group["owner"]}}
            customer = self.customers.get(m["userid"])
            if customer is not None and customer.unionid:
                member["unionid"] = customer.unionid
            members.append(member)
        detail["member_list"] = members
        return {"errcode": 0, "errmsg": "ok", "group_chat": detail}

    def _tag_list(self, params, body):
        return {"errcode": 0, "errmsg": "ok", "tag_group": json.loads(json.dumps(self.tag_groups))}

    def _mark_tag(self, params, body):
        customer = self.customers.get(body.get("external_userid", ""))
        if customer is None:
            return self._error(40096)
        follow = customer.follow.get(body.get("userid", ""))
        if follow is None:
            return self._error(60111)
        known = {t["id"] for g in self.tag_groups for t in g["tag"]}
        if any(t not in known for t in (body.get("add_tag") or []) + (body.get("remove_tag") or [])):
            return self._error(301002)
        tags = [t for t in follow["tag_id"] if t not in (body.get("remove_tag") or [])]
        tags += [t for t in body.get("add_tag") or [] if t not in tags]
        follow["tag_id"] = tags
        return {"errcode": 0, "errmsg": "ok"}

    def _add_msg_template(self, params, body):
        targets = body.get("external_userid") or []
        if body.get("sender") and body["sender"] not in self.staff:
            return self._error(60111)
        if any(t not in self.customers for t in targets):
            return self._error(40096)
        self.templates.append(body)
        return {"errcode": 0, "errmsg": "ok", "fail_list": [], "msgid": f"msg{len(self.templates)}"}


ROUTES = {
    "externalcontact/get_follow_user_list": FakeWecom._follow_users,
    "user/get": FakeWecom._user_get,
    "externalcontact/batch/get_by_user": FakeWecom._batch_get_by_user,
    "externalcontact/get": FakeWecom._contact_get,
    "externalcontact/groupchat/list": FakeWecom._group_list,
    "externalcontact/groupchat/get": FakeWecom._group_get,
    "externalcontact/get_corp_tag_list": FakeWecom._tag_list,
    "externalcontact/mark_tag": FakeWecom._mark_tag,
    "externalcontact/add_msg_template": FakeWecom._add_msg_template,
}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("o:")) if cursor else 0
    except ValueError:
        return 0


# ---------------------------------------------------------------- callbacks


def _cdata(value) -> str:
    text = str(value)
    return str(value) if text.isdigit() else f"<![CDATA[{text}]]>"


class CallbackSender:
    """Posts WeCom callbacks to a Campaigner endpoint, signed and encrypted as WeCom does (or wrongly, on request)."""

    def __init__(self, url: str, token: str, encoding_aes_key: str, corp_id: str, session=None):
        self.url, self.token, self.encoding_aes_key, self.corp_id = url, token, encoding_aes_key, corp_id
        self.crypto = WeChatCrypto(token, encoding_aes_key, corp_id)
        self.session = session or requests.Session()

    # -- event bodies (the decrypted XML's fields)

    def event(self, event: str, change_type: str, **fields) -> dict:
        return {"ToUserName": self.corp_id, "FromUserName": "sys", "CreateTime": int(time.time()),
                "MsgType": "event", "Event": event, "ChangeType": change_type, **fields}

    def add_external_contact(self, userid: str, external_userid: str, state: str = "", welcome_code: str = "",
                             **more) -> dict:
        fields = {"UserID": userid, "ExternalUserID": external_userid, **more}
        if state:
            fields["State"] = state
        if welcome_code:
            fields["WelcomeCode"] = welcome_code
        return self.event("change_external_contact", "add_external_contact", **fields)

    def plaintext(self, fields: dict) -> str:
        return "<xml>" + "".join(f"<{k}>{_cdata(v)}</{k}>" for k, v in fields.items()) + "</xml>"

    def encrypted(self, fields: dict | str, *, sign: bool = True, timestamp: int | None = None,
                  corp_id: str | None = None) -> tuple[dict, bytes]:
        """(query args, body) of a callback carrying `fields`; `sign=False` gives a wrong signature."""
        plain = fields if isinstance(fields, str) else self.plaintext(fields)
        crypto = self.crypto if corp_id is None else WeChatCrypto(self.token, self.encoding_aes_key, corp_id)
        nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(10))
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        xml = crypto.encrypt_message(plain, nonce, stamp)
        envelope = xmltodict.parse(xml)["xml"]
        signature = envelope["MsgSignature"] if sign else "0" * 40
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
                f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>")
        return {"msg_signature": signature, "timestamp": stamp, "nonce": nonce}, body.encode()

    def post(self, fields: dict | str, *, sign: bool = True, timestamp: int | None = None,
             corp_id: str | None = None, timeout: float = 10) -> requests.Response:
        """Post one callback; returns the endpoint's response."""
        args, body = self.encrypted(fields, sign=sign, timestamp=timestamp, corp_id=corp_id)
        return self.session.post(f"{self.url}?{urlencode(args)}", data=body, timeout=timeout,
                                 headers={"Content-Type": "text/xml"})

    def verify_url(self, echostr: str = "echo-12345", *, sign: bool = True) -> requests.Response:
        """WeCom's URL check: a GET with an encrypted echostr the endpoint must decrypt and answer."""
        nonce, stamp = "nonce1", str(int(time.time()))
        xml = self.crypto.encrypt_message(echostr, nonce, stamp)
        envelope = xmltodict.parse(xml)["xml"]
        args = {"msg_signature": envelope["MsgSignature"] if sign else "0" * 40, "timestamp": stamp, "nonce": nonce,
                "echostr": envelope["Encrypt"]}
        return self.session.get(f"{self.url}?{urlencode(args)}", timeout=10)
