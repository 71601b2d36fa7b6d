"""The Redis store: spend shared by a fleet. Reserve and settle are Lua scripts, so each is atomic on the server.

Keys (all under one hash tag, ``{otel_llmcost}`` or ``?prefix=NAME`` from the URL, so a cluster keeps them in one
slot): ``spend:<budget>:<bucket>`` (picodollars; expire when their window has passed), ``pending:<budget>`` (held
by calls in flight; deleted when nothing is), a hash and a sorted set of the reservations themselves (each expires
at its own time: the reservation of a process that died mid-call is charged to the bucket it was made in when its
TTL ends, see ``store``), ``reservation:charged:<id>`` (what such a charge added, so a call that outlived its
reservation and settles late replaces it; kept as long as the bucket), ``mark:...`` (threshold marks, expiring
after their period) and ``marks:<budget>`` (a wildcard budget's members over a threshold: a sorted set by expiry,
pruned when added to). A wildcard budget's member ``m`` is the budget ``<budget>#m`` in these keys (see
``store.member_key``): one spend key per member per bucket, expiring like any other. Expiries are sent as times to
live computed from the caller's clock, so a server whose clock differs keeps keys exactly as long. Every command
is bounded by the socket timeouts, and the client never retries: an unreachable server costs at most one timeout,
then the failure rule applies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ConfigError
from .store import Line, Refusal, SpendStore, StoreError

# A reservation's payload: "amount|pending-key|bucket-key|bucket-expires|pending-key|bucket-key|bucket-expires...",
# bucket-expires in the caller's clock (unix seconds). release() drops it (it settled); charge() adds its amount
# to the buckets it was made in (it never settled: expired) and remembers that in reservation:charged:<id>.
# A payload of 0.1.0 before charges ("amount|pending-key|pending-key...") is only released: it knows no bucket.
_RELEASE = """
local function parse(payload)
  local parts = {}
  for part in string.gmatch(payload, '[^|]+') do parts[#parts + 1] = part end
  local lines = {}
  if #parts >= 4 and tonumber(parts[4]) then
    for i = 2, #parts, 3 do lines[#lines + 1] = {parts[i], parts[i + 1], tonumber(parts[i + 2])} end
  else
    for i = 2, #parts do lines[#lines + 1] = {parts[i]} end
  end
  return parts[1], lines
end
local function release(hash, zset, id)
  local payload = redis.call('HGET', hash, id)
  redis.call('ZREM', zset, id)
  if not payload then return nil end
  local amount, lines = parse(payload)
  for _, line in ipairs(lines) do
    if redis.call('DECRBY', line[1], amount) <= 0 then redis.call('DEL', line[1]) end
  end
  redis.call('HDEL', hash, id)
  return amount, lines
end
local function charge(hash, zset, id, now)
  local amount, lines = release(hash, zset, id)
  if not amount or amount == '0' then return end
  local charged, longest = {amount}, 0
  for _, line in ipairs(lines) do
    local keep = line[3] and (line[3] - tonumber(now)) or 0
    if keep > 0 then
      local seconds = math.floor(keep) + 1
      redis.call('INCRBY', line[2], amount)
      redis.call('EXPIRE', line[2], seconds)
      charged[#charged + 1] = line[2]
      if seconds > longest then longest = seconds end
    end
  end
  if longest > 0 then redis.call('SET', hash .. ':charged:' .. id, table.concat(charged, '|'), 'EX', longest) end
end
local function uncharge(hash, id)
  local key = hash .. ':charged:' .. id
  local payload = redis.call('GET', key)
  if payload then
    local parts = {}
    for part in string.gmatch(payload, '[^|]+') do parts[#parts + 1] = part end
    for i = 2, #parts do
      if redis.call('EXISTS', parts[i]) == 1 then redis.call('DECRBY', parts[i], parts[1]) end
    end
    redis.call('DEL', key)
  end
end
local function purge(hash, zset, now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', zset, '-inf', now)) do charge(hash, zset, id, now) end
end
local function sum(first, count)
  local total = 0
  if count > 0 then
    for _, v in ipairs(redis.call('MGET', unpack(KEYS, first, first + count - 1))) do
      if v then total = total + tonumber(v) end
    end
  end
  return total
end
"""

# KEYS: zset, hash, then per line: pending key, bucket keys (newest first: the current one first).
# ARGV: now, id, amount, expires, lines, then per line: limit, bucket count, when the current bucket expires.
RESERVE = _RELEASE + """
local now, id, amount, expires, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
purge(KEYS[2], KEYS[1], now)
local k, a, held = 3, 6, {}
for i = 1, n do
  local limit, count = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local pending = tonumber(redis.call('GET', KEYS[k]) or '0')
  local settled = sum(k + 1, count)
  if settled + pending >= limit or settled + pending + tonumber(amount) > limit then
    return {i, string.format('%.0f', settled), string.format('%.0f', pending)}
  end
  held[#held + 1] = KEYS[k]
  held[#held + 1] = KEYS[k + 1]
  held[#held + 1] = ARGV[a + 2]
  a = a + 3
  k = k + 1 + count
end
for i = 1, #held, 3 do redis.call('INCRBY', held[i], amount) end
redis.call('HSET', KEYS[2], id, amount .. '|' .. table.concat(held, '|'))
redis.call('ZADD', KEYS[1], expires, id)
return {0}
"""

# KEYS: zset, hash, then per line: bucket keys (the current one first).
# ARGV: id ('' for none), amount, lines, then per line: bucket count, seconds the current bucket is kept.
SETTLE = _RELEASE + """
if ARGV[1] ~= '' and not release(KEYS[2], KEYS[1], ARGV[1]) then uncharge(KEYS[2], ARGV[1]) end
local amount, n = ARGV[2], tonumber(ARGV[3])
local k, a, out = 3, 4, {}
for i = 1, n do
  local count, keep = tonumber(ARGV[a]), ARGV[a + 1]
  a = a + 2
  if amount ~= '0' then
    redis.call('INCRBY', KEYS[k], amount)
    redis.call('EXPIRE', KEYS[k], keep)
  end
  out[i] = string.format('%.0f', sum(k, count))
  k = k + count
end
return out
"""

# KEYS: zset, hash, then per line: pending key, bucket keys. ARGV: now, lines, then per line: bucket count.
SPEND = _RELEASE + """
purge(KEYS[2], KEYS[1], ARGV[1])
local n, k, out = tonumber(ARGV[2]), 3, {}
for i = 1, n do
  local count = tonumber(ARGV[2 + i])
  out[#out + 1] = string.format('%.0f', sum(k + 1, count))
  out[#out + 1] = redis.call('GET', KEYS[k]) or '0'
  k = k + 1 + count
end
return out
"""


# KEYS: the mark, the group's sorted set ('' for none). ARGV: seconds to keep, when it expires (caller's clock), now.
MARK = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
if KEYS[2] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
  if redis.call('TTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
end
return 1
"""


class RedisStore(SpendStore):
    def __init__(self, url: str, timeout: float) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise ConfigError(
                f"budget store {url!r} needs the redis package. Fix: pip install 'otel-llmcost[redis]'."
            ) from None
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        prefix = next((value for key, value in query if key == "prefix"), "otel_llmcost")
        rest = urlencode([(key, value) for key, value in query if key != "prefix"])
        connect = urlunsplit(parts._replace(query=rest))
        self.url = redacted(connect)
        """The URL as logs and errors show it: without a password."""
        try:
            self._client = redis.Redis.from_url(
                connect,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
                decode_responses=True,
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"budget store {redacted(url)!r} is not a valid Redis URL ({exc}).") from None
        self._tag = "{" + prefix + "}"
        self._zset = f"{self._tag}:reservations"
        self._hash = f"{self._tag}:reservation"
        self._reserve = self._client.register_script(RESERVE)
        self._settle = self._client.register_script(SETTLE)
        self._spend = self._client.register_script(SPEND)
        self._mark = self._client.register_script(MARK)

    def key(self, kind: str, *parts: object) -> str:
        return ":".join((self._tag, kind, *(str(p) for p in parts)))

    def _buckets(self, line: Line) -> list[str]:
        return [self.key("spend", line.budget, start) for start in line.window.starts]

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except self._errors as exc:
            raise StoreError(f"redis {self.url}: {type(exc).__name__}: {exc}") from exc

    def reserve(
        self, reservation: str, lines: Sequence[Line], amount: int, now: float, expires: float, owner: int = 0
    ) -> Refusal | None:
        keys = [self._zset, self._hash]
        args: list[Any] = [repr(now), reservation, str(amount), repr(expires), len(lines)]
        for line in lines:
            buckets = self._buckets(line)
            keys += [self.key("pending", line.budget), *buckets]
            args += [str(line.limit), len(buckets), repr(line.window.expires)]
        result = self._run(self._reserve, keys, args)
        if int(result[0]) == 0:
            return None
        return Refusal(int(result[0]) - 1, int(result[1]), int(result[2]))

    def settle(
        self, reservation: str | None, lines: Sequence[Line], amount: int, now: float, row: Mapping[str, Any] | None
    ) -> list[int]:
        keys = [self._zset, self._hash]
        args: list[Any] = [reservation or "", str(amount), len(lines)]
        for line in lines:
            buckets = self._buckets(line)
            keys += buckets
            args += [len(buckets), _seconds(line.window.expires - now)]
        return [int(total) for total in self._run(self._settle, keys, args)]

    def spend(self, lines: Sequence[Line], now: float) -> list[tuple[int, int]]:
        keys = [self._zset, self._hash]
        args: list[Any] = [repr(now), len(lines)]
        for line in lines:
            buckets = self._buckets(line)
            keys += [self.key("pending", line.budget), *buckets]
            args.append(len(buckets))
        values = self._run(self._spend, keys, args)
        return [(int(values[i]), int(values[i + 1])) for i in range(0, len(values), 2)]

    def mark_once(self, key: str, expires: float, now: float, group: str | None = None) -> bool:
        if group is None:
            try:
                return bool(self._client.set(self.key("mark", key), "1", nx=True, ex=_seconds(expires - now)))
            except self._errors as exc:
                raise StoreError(f"redis {self.url}: {type(exc).__name__}: {exc}") from exc
        keys = [self.key("mark", key), self.key("marks", group)]
        return bool(int(self._run(self._mark, keys, [_seconds(expires - now), repr(expires), repr(now)])))

    def count_marks(self, groups: Sequence[str], now: float) -> list[int]:
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for group in groups:
                    pipe.zcount(self.key("marks", group), f"({now!r}", "+inf")
                return [int(n) for n in pipe.execute()]
        except self._errors as exc:
            raise StoreError(f"redis {self.url}: {type(exc).__name__}: {exc}") from exc

    def probe(self) -> None:
        try:
            self._client.ping()
        except self._errors as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc  # the caller names the store

    def close(self) -> None:
        with contextlib.suppress(*self._errors):
            self._client.close()


def redacted(url: str) -> str:
    """``url`` without its password (``redis://user:***@host``, ``?password=***``): for logs and errors."""
    parts = urlsplit(url)
    if parts.password is not None:
        url = url.replace(parts.netloc, f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}", 1)
    base, mark, query = url.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key == "password" for key, _ in pairs):
        query = urlencode([(key, "***" if key == "password" else value) for key, value in pairs], safe="*")
    return base + mark + query


def _seconds(delta: float) -> int:
    """A time to live in whole seconds (relative: the server's clock may differ from ours)."""
    return max(1, int(delta) + 1)
