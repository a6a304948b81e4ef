"""The wrk Lua script the load drills run: signed order-sign calls, each with its own JWT and hookInstance.

A CDS client signs every call with a fresh `jti` (the service refuses a replayed one), and Lua cannot sign
ES384, so the tokens are signed beforehand in Python, one per line, and each wrk thread takes every n-th.
Every status code is counted (wrk itself only counts "non-2xx"), so a drill can tell a 503 from a 500.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOOK_INSTANCE_PLACEHOLDER = "HOOK-INSTANCE-PLACEHOLDER"

# wrk's Lua 5.1 API: setup() runs once per thread in the main state, init()/request()/response() in each
# thread's own state, done() in the main state with every thread's globals reachable by thread:get().
_SCRIPT = r"""
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local tokens_path, body_path, path, thread_count, tag = args[1], args[2], args[3], tonumber(args[4]), args[5]
  call_path = path
  run_tag = tag
  delay_ms = tonumber(args[6]) or 0
  tokens = {}
  local line_number = 0
  for line in io.lines(tokens_path) do
    if line_number %% thread_count == thread_id then table.insert(tokens, line) end
    line_number = line_number + 1
  end
  local file = io.open(body_path, "rb")
  body_template = file:read("*a")
  file:close()
  sent = 0
  statuses = {}
  exhausted = 0
end

%(delay_function)s

function request()
  sent = sent + 1
  local token = tokens[sent]
  if token == nil then
    exhausted = exhausted + 1
    token = "exhausted"
  end
  local hook_instance = string.format("%%s-%%04x-4000-8000-%%012x", run_tag, thread_id, sent)
  local body = string.gsub(body_template, "%(placeholder)s", hook_instance)
  return wrk.format("POST", call_path,
                    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts, short = {}, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do counts[status] = (counts[status] or 0) + count end
    short = short + thread:get("exhausted")
  end
  local parts = {}
  for status, count in pairs(counts) do table.insert(parts, string.format('"%%s": %%d', status, count)) end
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "connect_errors": %%d, "read_errors": %%d, "write_errors": %%d, "timeouts": %%d, ' ..
    '"tokens_exhausted": %%d, "statuses": {%%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.timeout, short, table.concat(parts, ", ")))
end
"""

# Only defined when pacing: wrk asks the main state once whether a delay() exists at all.
_DELAY_FUNCTION = "function delay()\n  return delay_ms\nend"


def lua_script(*, paced: bool) -> str:
    return _SCRIPT % {"delay_function": _DELAY_FUNCTION if paced else "",
                      "placeholder": HOOK_INSTANCE_PLACEHOLDER.replace("-", "%-")}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    timeouts: int
    tokens_exhausted: int
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def failed(self) -> int:
        """Calls that did not get a 200: other statuses, broken connections and timeouts."""
        return self.requests - self.ok + self.socket_errors

    def as_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "seconds": round(self.seconds, 1), "rate_per_s": round(self.rate, 1),
                "p50_ms": self.p50_ms, "p90_ms": self.p90_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms,
                "socket_errors": self.socket_errors, "timeouts": self.timeouts,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}}


def parse_result(output: str) -> WrkResult:
    """The WRK-RESULT line done() prints; raises with wrk's output when it is missing (wrk failed)."""
    for line in output.splitlines():
        if line.startswith("WRK-RESULT "):
            raw = json.loads(line.removeprefix("WRK-RESULT "))
            break
    else:
        raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
    # A request that timed out is counted in `timeouts`, not as a status; connect/read/write are socket errors.
    return WrkResult(
        requests=raw["requests"], seconds=raw["duration_us"] / 1e6,
        p50_ms=round(raw["p50_us"] / 1000, 2), p90_ms=round(raw["p90_us"] / 1000, 2),
        p99_ms=round(raw["p99_us"] / 1000, 2), max_ms=round(raw["max_us"] / 1000, 2),
        socket_errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"],
        timeouts=raw["timeouts"], tokens_exhausted=raw["tokens_exhausted"],
        statuses={int(k): v for k, v in raw["statuses"].items()},
    )


def write_inputs(directory: Path, tokens: list[str], body: dict[str, Any]) -> tuple[Path, Path]:
    """The token and body files the script reads; the body's hookInstance becomes the placeholder."""
    tokens_path, body_path = directory / "tokens.txt", directory / "body.json"
    tokens_path.write_text("\n".join(tokens) + "\n")
    body_path.write_text(json.dumps({**body, "hookInstance": HOOK_INSTANCE_PLACEHOLDER}))
    return tokens_path, body_path
