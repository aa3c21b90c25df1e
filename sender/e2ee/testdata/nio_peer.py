#!/usr/bin/python3
"""A receiving Matrix client with its own E2EE store (matrix-nio over
libolm, independent of mautrix and goolm), driven by sender/e2ee's tests.

  nio_peer.py setup   HS USER PASSWORD STORE INVITE   -> {"room_id": ...}
  nio_peer.py join    HS USER PASSWORD STORE ROOM     -> {"room_id": ...}
  nio_peer.py receive HS STORE ROOM COUNT TIMEOUT_S [UNTIL]
                                                      -> {"messages": [...], "errors": [...]}

setup logs in as a new device, uploads its keys and creates a private room
with m.room.encryption, inviting INVITE (user ids, comma-separated). join
logs in as a new device, uploads its keys and joins ROOM (invited before).
receive syncs until COUNT
m.text or m.notice messages of ROOM were decrypted (or failed), and prints them.
"""
import asyncio
import json
import os
import sys
import time

from nio import (AsyncClient, AsyncClientConfig, JoinResponse, LoginResponse, MegolmEvent,
                 RoomCreateResponse, RoomMessageNotice, RoomMessageText, SyncResponse)
from nio.api import RoomPreset


def config():
    return AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)


async def new_device(hs, user, password, store):
    """Logs in as a new device with its store in STORE (creds.json for
    receive), uploads its keys and syncs once."""
    os.makedirs(store, exist_ok=True)
    client = AsyncClient(hs, user, store_path=store, config=config())
    resp = await client.login(password, device_name="nio-peer")
    if not isinstance(resp, LoginResponse):
        raise SystemExit(f"login: {resp}")
    with open(os.path.join(store, "creds.json"), "w") as f:
        json.dump({"user_id": resp.user_id, "device_id": resp.device_id,
                   "access_token": resp.access_token}, f)
    if client.should_upload_keys:
        await client.keys_upload()
    await client.sync(timeout=0, full_state=True)
    return client


async def setup(hs, user, password, store, invite):
    client = await new_device(hs, user, password, store)
    resp = await client.room_create(
        preset=RoomPreset.private_chat, invite=invite.split(","),
        initial_state=[{"type": "m.room.encryption", "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    if not isinstance(resp, RoomCreateResponse):
        raise SystemExit(f"create room: {resp}")
    await client.sync(timeout=0)
    await client.close()
    print(json.dumps({"room_id": resp.room_id, "user_id": client.user_id,
                      "device_id": client.device_id}))


async def join(hs, user, password, store, room):
    client = await new_device(hs, user, password, store)
    resp = await client.join(room)
    if not isinstance(resp, JoinResponse):
        raise SystemExit(f"join: {resp}")
    await client.sync(timeout=0)
    await client.close()
    print(json.dumps({"room_id": room}))


async def receive(hs, store, room, count, timeout, until=""):
    with open(os.path.join(store, "creds.json")) as f:
        creds = json.load(f)
    client = AsyncClient(hs, creds["user_id"], device_id=creds["device_id"],
                         store_path=store, config=config())
    client.restore_login(creds["user_id"], creds["device_id"], creds["access_token"])
    messages, errors, seen, to_device = [], [], set(), []
    deadline = time.monotonic() + timeout
    def done():
        if until:  # a member who joined late: history it cannot read may come first
            return any(until in m["body"] for m in messages)
        return len(messages) + len(errors) >= count

    while not done() and time.monotonic() < deadline:
        resp = await client.sync(timeout=2000, sync_filter={"room": {"timeline": {"limit": 200}}})
        if not isinstance(resp, SyncResponse):
            raise SystemExit(f"sync: {resp}")
        for td in resp.to_device_events:
            to_device.append(" ".join([type(td).__name__, getattr(td, "session_id", "") or ""]).strip())
        joined = resp.rooms.join.get(room)
        if joined is None:
            continue
        for ev in joined.timeline.events:
            if ev.event_id in seen:
                continue
            seen.add(ev.event_id)
            if isinstance(ev, MegolmEvent):  # nio could not decrypt it
                errors.append({"event_id": ev.event_id, "session_id": ev.session_id,
                               "error": str(getattr(ev, "decryption_error", "") or "undecryptable")})
            elif isinstance(ev, (RoomMessageText, RoomMessageNotice)):
                messages.append({"event_id": ev.event_id, "body": ev.body,
                                 "decrypted": ev.decrypted, "session_id": ev.session_id,
                                 "verified": ev.verified, "content": ev.source.get("content")})
    await client.close()
    print(json.dumps({"messages": messages, "errors": errors, "to_device": to_device}))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "setup":
        asyncio.run(setup(*args))
    elif cmd == "join":
        asyncio.run(join(*args))
    elif cmd == "receive":
        hs, store, room, count, timeout, *until = args
        asyncio.run(receive(hs, store, room, int(count), float(timeout), *until))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
