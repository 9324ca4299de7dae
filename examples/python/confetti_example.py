#!/usr/bin/python3
"""Calling Confetti from Python: the worked example of docs/rpc.md.

A complete client of Confetti's RPC contract with nothing but Google's protobuf runtime (Debian
python3-protobuf) and libnng through ctypes (Debian libnng1). The message classes are generated
from the repository's proto/ files, never committed:

    mkdir -p gen && protoc --python_out=gen -I proto proto/rpc/v1/envelope.proto \
        proto/health/v1/health.proto proto/rooms/v1/rooms.proto proto/catalog/v1/catalog.proto \
        proto/audit/v1/audit.proto
    PYTHONPATH=gen CONFETTI_ROOMS_URL=tcp://127.0.0.1:7103 \
        CONFETTI_CATALOG_URL=tcp://127.0.0.1:7101 \
        CONFETTI_TOKEN=$(build/tools/confetti-devtoken mint var/dev alice) \
        /usr/bin/python3 examples/python/confetti_example.py

(the addresses and the token of a local platform started by `make run`).

`make test` runs it (ctest example_python) against real services and PostgreSQL, so what
docs/rpc.md says and what this file does cannot drift apart. It exits 0 when every step answered
as the contract says, 1 (with the step named) otherwise.
"""

import ctypes
import os
import sys
import threading
import uuid

from google.protobuf import struct_pb2

from catalog.v1 import catalog_pb2
from health.v1 import health_pb2
from rooms.v1 import rooms_pb2
from rpc.v1 import envelope_pb2

# ---------------------------------------------------------------------------------------------
# 1. The transport: an nng req socket through ctypes (docs/rpc.md, "Transport").

_nng = ctypes.CDLL("libnng.so.1")  # Debian's libnng1


class _Socket(ctypes.Structure):  # nng_socket is a struct holding one uint32 id
    _fields_ = [("id", ctypes.c_uint32)]


_nng.nng_req0_open.argtypes = [ctypes.POINTER(_Socket)]
_nng.nng_dial.argtypes = [_Socket, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
_nng.nng_socket_set_ms.argtypes = [_Socket, ctypes.c_char_p, ctypes.c_int32]
_nng.nng_socket_set_size.argtypes = [_Socket, ctypes.c_char_p, ctypes.c_size_t]
_nng.nng_send.argtypes = [_Socket, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_nng.nng_recv.argtypes = [_Socket, ctypes.POINTER(ctypes.c_void_p),
                          ctypes.POINTER(ctypes.c_size_t), ctypes.c_int]
_nng.nng_free.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_nng.nng_close.argtypes = [_Socket]
_nng.nng_strerror.argtypes = [ctypes.c_int]
_nng.nng_strerror.restype = ctypes.c_char_p

NNG_FLAG_ALLOC = 1
NNG_FLAG_NONBLOCK = 2
NNG_ETIMEDOUT = 5
NNG_DURATION_INFINITE = -1
MAX_MESSAGE = 4 << 20  # the services' rpc.max_message default: check sizes before sending

# gRPC status codes (SPEC §4: gRPC's numbers)
OK, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND = 0, 3, 4, 5
RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE, UNAUTHENTICATED = 8, 10, 14, 16


class RpcError(Exception):
    """A reply whose code is not OK: code, message, details [(field, description)], request id."""

    def __init__(self, code, message, details=(), request_id=""):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.details, self.request_id = (
            code, message, list(details), request_id)

    def fields(self):
        return [f for f, _ in self.details]


class Channel:
    """One service address. An nng req socket carries ONE request at a time, so this channel
    keeps a socket per thread (an nng context per request would do as well)."""

    def __init__(self, url, token=None, default_timeout_ms=5000):
        self.url, self.token, self.default_timeout_ms = url, token, default_timeout_ms
        self._local = threading.local()
        self._all = []
        self._lock = threading.Lock()

    def _socket(self):
        s = getattr(self._local, "sock", None)
        if s is None:
            s = _Socket()
            _check(_nng.nng_req0_open(ctypes.byref(s)))
            # never resend: a resend runs a mutating call twice (docs/rpc.md, "Retries")
            _check(_nng.nng_socket_set_ms(s, b"req:resend-time", NNG_DURATION_INFINITE))
            _check(_nng.nng_socket_set_size(s, b"recv-size-max", 2 * MAX_MESSAGE + 65536))
            _check(_nng.nng_socket_set_ms(s, b"reconnect-time-min", 100))
            # non-blocking dial: nng connects (and reconnects) in the background
            _check(_nng.nng_dial(s, self.url.encode(), None, NNG_FLAG_NONBLOCK))
            self._local.sock = s
            with self._lock:
                self._all.append(s)
        return s

    def close(self):
        with self._lock:
            for s in self._all:
                _nng.nng_close(s)
            self._all.clear()

    def call(self, method, request, response_type, *, timeout_ms=None, idempotency_key=None,
             request_id=None, metadata=()):
        """Calls method ("rooms.v1.Rooms/CreateRoom") with request; returns (response, request id)
        or raises RpcError."""
        timeout_ms = self.default_timeout_ms if timeout_ms is None else timeout_ms
        if timeout_ms <= 0:  # no budget left: do not send, fail as the service would
            raise RpcError(DEADLINE_EXCEEDED, "no time left for the call")
        payload = request.SerializeToString()
        if len(payload) > MAX_MESSAGE:  # past the limit nng drops the connection: never send
            raise RpcError(RESOURCE_EXHAUSTED, f"request of {len(payload)} bytes is too large")
        env = envelope_pb2.Request(method=method, payload=payload, timeout_ms=timeout_ms)
        md = list(metadata)
        if self.token:
            md.append(("authorization", "Bearer " + self.token))
        if idempotency_key:
            md.append(("idempotency-key", idempotency_key))
        if request_id:
            md.append(("x-request-id", request_id))
        for k, v in md:  # keys are case-insensitive; send them lower-case
            env.metadata.add(key=k.lower(), value=v)
        data = env.SerializeToString()

        s = self._socket()
        # the socket waits a little longer than the service's deadline, so the service's own
        # DEADLINE_EXCEEDED (with its request id) arrives rather than a bare local timeout
        _check(_nng.nng_socket_set_ms(s, b"recv-timeout", timeout_ms + 1000))
        _check(_nng.nng_socket_set_ms(s, b"send-timeout", timeout_ms))
        rv = _nng.nng_send(s, data, len(data), 0)
        if rv == NNG_ETIMEDOUT:
            raise RpcError(UNAVAILABLE, f"no connection to {self.url}")
        _check(rv)
        buf, size = ctypes.c_void_p(), ctypes.c_size_t()
        rv = _nng.nng_recv(s, ctypes.byref(buf), ctypes.byref(size), NNG_FLAG_ALLOC)
        if rv == NNG_ETIMEDOUT:
            raise RpcError(DEADLINE_EXCEEDED, "no reply before the deadline")
        _check(rv)
        raw = ctypes.string_at(buf, size.value)
        _nng.nng_free(buf, size)

        reply = envelope_pb2.Reply.FromString(raw)
        if reply.code != OK:
            raise RpcError(reply.code, reply.message,
                           [(d.field, d.description) for d in reply.details], reply.request_id)
        return response_type.FromString(reply.payload), reply.request_id


def _check(rv):
    if rv != 0:
        raise OSError(rv, _nng.nng_strerror(rv).decode())


# ---------------------------------------------------------------------------------------------
# 2. The walk-through: each step is what docs/rpc.md explains.

def expect_error(code, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except RpcError as e:
        if e.code != code:
            raise AssertionError(f"expected code {code}, got {e.code}: {e.message}") from e
        return e
    raise AssertionError(f"expected code {code}, the call succeeded")


def main():
    token = os.environ["CONFETTI_TOKEN"]
    rooms = Channel(os.environ["CONFETTI_ROOMS_URL"], token)
    catalog = Channel(os.environ["CONFETTI_CATALOG_URL"], token)
    anonymous = Channel(os.environ["CONFETTI_ROOMS_URL"])
    run = uuid.uuid4().hex[:8]  # keys unique to this run

    # health: "" is the process, a full service name one service, anything else NOT_FOUND
    for name in ("", "rooms.v1.Rooms"):
        r, _ = rooms.call("health.v1.Health/Check", health_pb2.CheckRequest(service=name),
                          health_pb2.CheckResponse)
        assert r.status == health_pb2.CheckResponse.SERVING, r
    expect_error(NOT_FOUND, rooms.call, "health.v1.Health/Check",
                 health_pb2.CheckRequest(service="no.such.Service"), health_pb2.CheckResponse)
    print("health: SERVING; an unknown service name is NOT_FOUND")

    # a creating call with an idempotency key and our own request id
    req = rooms_pb2.CreateRoomRequest(name="Python meetup", description="from the example",
                                      is_public=True)
    key = f"example-room-{run}"
    room, rid = rooms.call("rooms.v1.Rooms/CreateRoom", req, rooms_pb2.Room,
                           idempotency_key=key, request_id=f"example-{run}")
    assert rid == f"example-{run}", rid  # every reply names its request
    assert room.status == rooms_pb2.DRAFT
    print(f"created room {room.room_id} ({rooms_pb2.RoomStatus.Name(room.status)}), "
          f"request id {rid}")

    # the retry of a call whose reply was lost: same key, same request -> the first result
    again, _ = rooms.call("rooms.v1.Rooms/CreateRoom", req, rooms_pb2.Room, idempotency_key=key)
    assert again.room_id == room.room_id
    print("retried with the same idempotency-key: the same room, nothing created")

    # the same key with another request -> INVALID_ARGUMENT naming idempotency-key
    other = rooms_pb2.CreateRoomRequest(name="Another meetup", is_public=True)
    e = expect_error(INVALID_ARGUMENT, rooms.call, "rooms.v1.Rooms/CreateRoom", other,
                     rooms_pb2.Room, idempotency_key=key)
    assert e.fields() == ["idempotency-key"], e.details
    print(f"the key with another request: {e.message} {e.details}")

    # an error with details: fields are named by their JSON names
    e = expect_error(INVALID_ARGUMENT, rooms.call, "rooms.v1.Rooms/CreateRoom",
                     rooms_pb2.CreateRoomRequest(name="   "), rooms_pb2.Room)
    assert e.fields() == ["name"], e.details
    assert e.request_id, "failed replies carry a request id too"
    print(f"a blank name: INVALID_ARGUMENT {e.details} (request id {e.request_id})")

    # enums: a number the service does not know is refused, never guessed
    bad = rooms_pb2.CreateRoomRequest(name="Enum test")
    bad.draw_policy = 99  # proto3 enums are open: the runtime lets this through
    e = expect_error(INVALID_ARGUMENT, rooms.call, "rooms.v1.Rooms/CreateRoom", bad,
                     rooms_pb2.Room)
    assert e.fields() == ["drawPolicy"], e.details
    print(f"an unknown enum number: INVALID_ARGUMENT {e.details}")

    # metadata keys are case-insensitive: "Authorization" authenticates like "authorization"
    got, _ = anonymous.call("rooms.v1.Rooms/GetRoom", rooms_pb2.GetRoomRequest(room_id=room.room_id),
                            rooms_pb2.Room, metadata=[("Authorization", "Bearer " + token)])
    assert got.room_id == room.room_id
    # no token at all on a method that needs one: UNAUTHENTICATED
    expect_error(UNAUTHENTICATED, anonymous.call, "rooms.v1.Rooms/CreateRoom", req, rooms_pb2.Room)
    print("metadata keys are case-insensitive; no token is UNAUTHENTICATED")

    # deadlines: timeout_ms is the budget the service gets; none left means do not call
    expect_error(DEADLINE_EXCEEDED, rooms.call, "rooms.v1.Rooms/GetRoom",
                 rooms_pb2.GetRoomRequest(room_id=room.room_id), rooms_pb2.Room, timeout_ms=0)
    print("no budget left: DEADLINE_EXCEEDED without sending")

    # Struct fields from plain Python values: register an app with its manifest
    manifest = struct_pb2.Struct()
    manifest.update({"name": "Wheel", "version": "1.0.0",
                     "settingsSchema": {"type": "object",
                                        "properties": {"maxWinners": {"type": "integer",
                                                                      "minimum": 1}}}})
    reg = catalog_pb2.RegisterAppRequest(name=f"Wheel {run}", manifest=manifest)
    app, _ = catalog.call("catalog.v1.Catalog/RegisterApp", reg, catalog_pb2.RegisterAppResponse,
                          idempotency_key=f"example-app-{run}")
    assert app.app_secret, "the secret is shown once"
    replay, _ = catalog.call("catalog.v1.Catalog/RegisterApp", reg,
                             catalog_pb2.RegisterAppResponse, idempotency_key=f"example-app-{run}")
    assert replay.app.app_id == app.app.app_id and replay.app_secret == ""
    print(f"registered app {app.app.app_id}; its replay has the same id and no secret")

    # many threads, one channel: each thread has its own socket (one request per socket)
    errors = []

    def reader():
        try:
            for _ in range(20):
                r, _ = rooms.call("rooms.v1.Rooms/GetRoom",
                                  rooms_pb2.GetRoomRequest(room_id=room.room_id), rooms_pb2.Room)
                assert r.room_id == room.room_id
        except Exception as ex:  # noqa: BLE001 - reported below
            errors.append(ex)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    print("4 threads x 20 calls on one channel: all answered")

    for c in (rooms, catalog, anonymous):
        c.close()
    print("ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (AssertionError, RpcError, OSError, KeyError) as ex:
        print(f"FAILED: {type(ex).__name__}: {ex}", file=sys.stderr)
        sys.exit(1)
