// Drives ksid's facade with the official @anthropic-ai/sdk npm client (installed by scripts/test-deps into
// build/tools). Usage: node anthropic_sdk_client.mjs <case> <baseURL> [apiKey] [extra JSON]
// Prints one JSON line with what the case observed; exits 0 unless the SDK itself misbehaved.
import { createRequire } from "module";
import path from "path";
import { fileURLToPath } from "url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const Anthropic = require(path.join(here, "..", "..", "build", "tools", "node_modules", "@anthropic-ai", "sdk"));

const [, , which, baseURL, apiKey = "no-key-needed", extraText = "{}"] = process.argv;
const extra = JSON.parse(extraText);
const auth = extra.bearer ? { authToken: apiKey, apiKey: null } : { apiKey };
const client = new Anthropic.default({ baseURL, ...auth, maxRetries: extra.maxRetries ?? 0, timeout: 60000 });
const model = extra.model ?? "sonnet";

function message(m) {
  return { id: m.id, type: m.type, role: m.role, model: m.model, content: m.content, stop_reason: m.stop_reason,
           stop_sequence: m.stop_sequence, usage: m.usage, session_id: m.session_id ?? null };
}

async function run() {
  switch (which) {
    case "plain": {
      const { data, response, request_id } = await client.messages.create({
        model, max_tokens: 1024, messages: [{ role: "user", content: extra.prompt ?? "hello sdk" }],
        ...(extra.body ?? {}),
      }).withResponse();
      return { ...message(data), sessionHeader: response.headers.get("x-session-id"), requestId: request_id };
    }
    case "stream": {
      const stream = client.messages.stream({
        model, max_tokens: 1024, messages: [{ role: "user", content: extra.prompt ?? "stream sdk" }],
        ...(extra.body ?? {}),
      });
      let text = "";
      const events = [];
      stream.on("text", (t) => { text += t; });
      stream.on("streamEvent", (e) => events.push(e.type));
      const final = await stream.finalMessage();
      return { text, events, final: message(final) };
    }
    case "resume": {
      const first = await client.messages.create({ model, max_tokens: 64,
                                                   messages: [{ role: "user", content: "first turn" }] });
      const second = await client.messages.create({
        model, max_tokens: 64,
        messages: [{ role: "user", content: "first turn" }, { role: "assistant", content: first.content },
                   { role: "user", content: "second turn" }],
      }, { headers: { "X-Session-Id": first.session_id } });
      return { first: message(first), second: message(second) };
    }
    case "models": {
      const ids = [];
      for await (const m of client.models.list()) ids.push({ id: m.id, type: m.type, display_name: m.display_name,
                                                            created_at: m.created_at });
      const one = await client.models.retrieve(ids[0].id);
      return { ids, one: one.id };
    }
    case "count": {
      const r = await client.messages.countTokens({ model, messages: [{ role: "user", content: "count these words" }],
                                                    system: "short" });
      return { input_tokens: r.input_tokens };
    }
    case "error": {
      try {
        await client.messages.create({ model, max_tokens: 16, messages: extra.messages ?? [{ role: "user", content: "x" }],
                                       ...(extra.body ?? {}) });
        return { error: null };
      } catch (e) {
        return { error: e.constructor.name, status: e.status ?? null, type: e.error?.error?.type ?? null,
                 message: e.error?.error?.message ?? e.message, retryAfter: e.headers?.get?.("retry-after") ?? null,
                 requestId: e.requestID ?? null };
      }
    }
  }
  throw new Error("unknown case " + which);
}

run().then((r) => console.log(JSON.stringify(r))).catch((e) => {
  console.log(JSON.stringify({ sdkFailure: String(e), name: e.constructor?.name, status: e.status ?? null }));
});
