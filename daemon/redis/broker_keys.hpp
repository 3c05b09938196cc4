#pragma once
// The Redis keys and Lua scripts fronts and workers share (the layout is described in the README's
// "Scale-out on Redis"). Scripts make each step that must not be seen half done atomic: enqueueing under
// the shared max_pending, claiming in priority order, recording a claim, and answering + acking a job.
#include <string>

namespace ksid::daemon {

inline constexpr int broker_priorities = 10; // TurnRequest::priority 0..9, one stream each
inline constexpr const char* broker_group = "workers";

struct BrokerKeys {
    std::string prefix;

    std::string priority_stream(int priority) const { return prefix + ":jobs:" + std::to_string(priority); }
    std::string worker_stream(const std::string& worker) const {
        return prefix + ":worker:" + worker + ":jobs";
    }
    std::string worker_stats(const std::string& worker) const { return prefix + ":worker:" + worker; }
    std::string worker_alive(const std::string& worker) const {
        return prefix + ":worker:" + worker + ":alive";
    }
    std::string workers() const { return prefix + ":workers"; }
    std::string job(const std::string& id) const { return prefix + ":job:" + id; }
    std::string job_events(const std::string& id) const { return prefix + ":job:" + id + ":events"; }
    std::string job_cancel(const std::string& id) const { return prefix + ":job:" + id + ":cancel"; }
    std::string session(const std::string& session_id) const { return prefix + ":session:" + session_id; }
    std::string dead() const { return prefix + ":dead"; }
    std::string front_wake(const std::string& front) const { return prefix + ":front:" + front + ":wake"; }
};

// KEYS: the 10 priority streams, the stream to add to, the job's hash.
// ARGV: max_pending, group, job id, front, request, submitted (unix ms), hash ttl (s).
// 1 when queued, 0 when max_pending jobs already wait (claimed ones do not count).
inline constexpr const char* enqueue_script = R"lua(
local waiting = 0
for i = 1, 10 do
  waiting = waiting + redis.call('XLEN', KEYS[i])
  local ok, pending = pcall(redis.call, 'XPENDING', KEYS[i], ARGV[2])
  if ok then waiting = waiting - pending[1] end
end
if waiting >= tonumber(ARGV[1]) then return 0 end
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[11], ARGV[2], '0', 'MKSTREAM')
redis.call('HSET', KEYS[12], 'state', 'queued', 'deliveries', 0, 'front', ARGV[4])
redis.call('EXPIRE', KEYS[12], ARGV[7])
redis.call('XADD', KEYS[11], '*', 'job', ARGV[3], 'front', ARGV[4], 'request', ARGV[5], 'submitted', ARGV[6])
return 1
)lua";

// KEYS: the streams to claim from, best first. ARGV: group, consumer.
// The first new entry of the first stream that has one (XREADGROUP's reply shape), or false.
inline constexpr const char* claim_script = R"lua(
for i = 1, #KEYS do
  local ok, r = pcall(redis.call, 'XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1, 'STREAMS', KEYS[i], '>')
  if not ok then
    pcall(redis.call, 'XGROUP', 'CREATE', KEYS[i], ARGV[1], '0', 'MKSTREAM')
  elseif r then
    return r
  end
end
return false
)lua";

// KEYS: the job's hash, its cancel key. ARGV: worker.
// {state before, deliveries now, cancel reason or "", the worker that held it before or ""}; state "gone"
// when the hash is gone (the front gave up on it long ago, or Redis lost it).
inline constexpr const char* record_claim_script = R"lua(
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'gone', 0, '', ''} end
local cancel = redis.call('GET', KEYS[2]) or ''
local deliveries = redis.call('HINCRBY', KEYS[1], 'deliveries', 1)
local before = redis.call('HGET', KEYS[1], 'worker') or ''
if state == 'queued' or state == 'claimed' then
  redis.call('HSET', KEYS[1], 'state', 'claimed', 'worker', ARGV[1])
end
return {state, deliveries, cancel, before}
)lua";

// KEYS: the job's events stream, its hash, the stream its entry is in. ARGV: the outcome event, group, the
// entry's id, the events' ttl (s). Answers the job and acks its entry in one step, so that a worker that
// dies in between can never have it answered twice.
inline constexpr const char* finish_script = R"lua(
redis.call('XADD', KEYS[1], '*', 'event', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'state', 'done') end
redis.call('XACK', KEYS[3], ARGV[2], ARGV[3])
redis.call('XDEL', KEYS[3], ARGV[3])
return 1
)lua";

// KEYS: the stream the entry is in, the job's hash. ARGV: group, the entry's id, then its fields.
// Hands a claimed job that never started back (a worker shutting down): a new entry at the end of its
// stream, the old one acked, the delivery not counted.
inline constexpr const char* release_script = R"lua(
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[1], '*', unpack(fields))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'state', 'queued', 'worker', '')
  redis.call('HINCRBY', KEYS[2], 'deliveries', -1)
end
return 1
)lua";

} // namespace ksid::daemon
