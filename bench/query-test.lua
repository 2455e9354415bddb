-- The brief's wrk run: POST /query/user with its example body.
--   wrk -t2 -c10 -d30s -s bench/query-test.lua http://localhost:3000/query/user
-- After wrk's own report it prints one JSON line (make bench reads it).
wrk.method = "POST"
wrk.body = '{"user_id":"test_user_001","limit":10}'
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "throughput_rps": %.1f, "p50_ms": %.2f, '
      .. '"p99_ms": %.2f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
