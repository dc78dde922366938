//! The Lua scripts every host runs on every Redis master, byte for byte.
//!
//! Hosts send them with `EVALSHA <sha1> <numkeys> <keys...> <args...>` and fall
//! back to `EVAL` (or `SCRIPT LOAD`) on `NOSCRIPT`. Each script is atomic on its
//! node, which is what makes multi-resource locks all-or-nothing per node.
//!
//! Key layout for resource `r` under namespace `ns`: the lock key is
//! `ns:lock:{r}` and the fencing counter is `ns:fence:{r}`; the braces keep both
//! in one Redis Cluster hash slot.
//!
//! Replies (all integers):
//!
//! | script  | keys                    | args                 | reply |
//! |---------|-------------------------|----------------------|-------|
//! | acquire | locks.., [counters..]   | value, ttl_ms, count | `0` another value holds a key; otherwise every key is set to `value` with `PX ttl_ms` and the reply is the fencing counter (`1` without counters). The counter is bumped only when a key was free: re-acquiring with our own value never blocks and never bumps. A counter that does not exist (first use, or a master that lost its data) starts from the master's clock in microseconds (`TIME`). |
//! | extend  | locks..                 | value, ttl_ms        | `1` all keys held by `value`, TTL reset; `0` a key is gone; `-1` a key is held by another value |
//! | release | locks..                 | value                | number of keys deleted (those holding `value`), or `-1` if a key is held by another value |
//! | fence   | locks.., counters..     | value, token, count  | `token` once every counter equals it; `0` a lock key no longer holds `value`; a larger number: a counter is already above `token` (nothing written) |

/// One of the Redlock scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Script {
    /// Set every lock key if free (or already ours) and bump the fencing counter.
    Acquire,
    /// Reset the TTL of every lock key that still holds our value.
    Extend,
    /// Delete every lock key that still holds our value.
    Release,
    /// Raise every fencing counter to the lease's token while our value holds the keys.
    Fence,
}

impl Script {
    /// Every script, in a fixed order (for `SCRIPT LOAD` at connect time).
    pub const ALL: [Script; 4] = [
        Script::Acquire,
        Script::Extend,
        Script::Release,
        Script::Fence,
    ];

    /// The script's name as it appears in commands (`"acquire"`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Script::Acquire => "acquire",
            Script::Extend => "extend",
            Script::Release => "release",
            Script::Fence => "fence",
        }
    }

    /// The Lua source.
    #[must_use]
    pub const fn source(self) -> &'static str {
        match self {
            Script::Acquire => ACQUIRE,
            Script::Extend => EXTEND,
            Script::Release => RELEASE,
            Script::Fence => FENCE,
        }
    }

    /// Lowercase hex SHA1 of [`Script::source`], as `EVALSHA` wants it.
    #[must_use]
    pub const fn sha1(self) -> &'static str {
        match self {
            Script::Acquire => ACQUIRE_SHA1,
            Script::Extend => EXTEND_SHA1,
            Script::Release => RELEASE_SHA1,
            Script::Fence => FENCE_SHA1,
        }
    }
}

/// Acquire every lock key (and bump the fencing counter), all or nothing.
pub const ACQUIRE: &str = "\
-- fencelock acquire v2
if redis.replicate_commands then
  redis.replicate_commands()
end
local n = tonumber(ARGV[3])
local fresh = false
for i = 1, n do
  local holder = redis.call('GET', KEYS[i])
  if not holder then
    fresh = true
  elseif holder ~= ARGV[1] then
    return 0
  end
end
local token = 0
local missing = false
for i = n + 1, #KEYS do
  local raw = redis.call('GET', KEYS[i])
  if raw then
    local counter = tonumber(raw)
    if not counter then
      return redis.error_reply('fencelock: counter ' .. KEYS[i] .. ' is not a number')
    end
    if counter > token then
      token = counter
    end
  else
    missing = true
  end
end
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
if #KEYS == n then
  return 1
end
if missing then
  local now = redis.call('TIME')
  local micros = tonumber(now[1]) * 1000000 + tonumber(now[2])
  if micros > token then
    token = micros
  end
end
if fresh or token == 0 then
  token = token + 1
end
local text = string.format('%.0f', token)
for i = n + 1, #KEYS do
  redis.call('SET', KEYS[i], text)
end
return token
";

/// Reset the TTL of every lock key, only if all still hold our value.
pub const EXTEND: &str = "\
-- fencelock extend v1
local gone = false
for i = 1, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if not holder then
    gone = true
  elseif holder ~= ARGV[1] then
    return -1
  end
end
if gone then
  return 0
end
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
";

/// Delete the lock keys that still hold our value.
pub const RELEASE: &str = "\
-- fencelock release v1
local released = 0
local other = false
for i = 1, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder == ARGV[1] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  elseif holder then
    other = true
  end
end
if other then
  return -1
end
return released
";

/// Write the lease's token back into every counter while our value holds the keys.
pub const FENCE: &str = "\
-- fencelock fence v1
local n = tonumber(ARGV[3])
for i = 1, n do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then
    return 0
  end
end
local token = tonumber(ARGV[2])
local highest = 0
for i = n + 1, #KEYS do
  local counter = tonumber(redis.call('GET', KEYS[i]) or '0')
  if not counter then
    return redis.error_reply('fencelock: counter ' .. KEYS[i] .. ' is not a number')
  end
  if counter > highest then
    highest = counter
  end
end
if highest > token then
  return highest
end
for i = n + 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2])
end
return token
";

/// SHA1 of [`ACQUIRE`].
pub const ACQUIRE_SHA1: &str = "0a681f476297c8e77d147f65d78f9706526af8a4";
/// SHA1 of [`EXTEND`].
pub const EXTEND_SHA1: &str = "91cce3f2035b54dab6c19729311e8247d93d2a28";
/// SHA1 of [`RELEASE`].
pub const RELEASE_SHA1: &str = "9772225a0b1d463a5fd65eb25e0f24e1fdb4ac96";
/// SHA1 of [`FENCE`].
pub const FENCE_SHA1: &str = "f85c02460af36dd17bdb4785a3abbb9a2599d883";
