// Drives ksid's facade with the official openai npm SDK (installed by scripts/test-deps into build/tools).
// Usage: node openai_sdk_client.mjs <case> <baseURL> [apiKey] [extra JSON]
// Prints one JSON line with what the case observed; exits 0 unless the SDK itself misbehaved.
import { createRequire } from "module";
import path from "path";
import { fileURLToPath } from "url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const OpenAI = require(path.join(here, "..", "..", "build", "tools", "node_modules", "openai"));

const [, , which, baseURL, apiKey = "no-key-needed", extraText = "{}"] = process.argv;
const extra = JSON.parse(extraText);
const client = new OpenAI.default({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });

async function run() {
  switch (which) {
    case "plain": {
      const r = await client.chat.completions.create({
        model: "sonnet", messages: [{ role: "user", content: extra.prompt ?? "hello sdk" }], ...(extra.body ?? {}),
      });
      return { id: r.id, content: r.choices[0].message.content, finish: r.choices[0].finish_reason, usage: r.usage,
               object: r.object, model: r.model };
    }
    case "stream": {
      const stream = await client.chat.completions.create({
        model: "sonnet", stream: true, stream_options: { include_usage: true },
        messages: [{ role: "user", content: extra.prompt ?? "stream sdk" }], ...(extra.body ?? {}),
      });
      let content = "", chunks = 0, ids = new Set(), finish = null, usage = null, firstRole = null;
      for await (const chunk of stream) {
        chunks++;
        ids.add(chunk.id);
        if (chunk.choices.length) {
          const c = chunk.choices[0];
          if (c.delta.role && firstRole === null) firstRole = c.delta.role;
          if (c.delta.content) content += c.delta.content;
          if (c.finish_reason) finish = c.finish_reason;
        }
        if (chunk.usage) usage = chunk.usage;
      }
      return { content, chunks, ids: [...ids], finish, usage, firstRole };
    }
    case "resume": {
      const first = await client.chat.completions.create({ model: "sonnet", messages: [{ role: "user", content: "first turn" }] });
      const second = await client.chat.completions.create({
        model: "sonnet", messages: [{ role: "user", content: "first turn" }, { role: "assistant", content: first.choices[0].message.content },
                                    { role: "user", content: "second turn" }],
        metadata: { session_id: first.id },
      });
      return { first: first.id, second: second.id, firstContent: first.choices[0].message.content,
               secondContent: second.choices[0].message.content };
    }
    case "models": {
      const list = await client.models.list();
      const ids = [];
      for await (const m of list) ids.push(m.id);
      const one = await client.models.retrieve(ids[0]);
      return { ids, one: one.id };
    }
    case "error": {
      try {
        await client.chat.completions.create({ model: extra.model ?? "sonnet", messages: extra.messages ?? [],
                                               ...(extra.body ?? {}) });
        return { error: null };
      } catch (e) {
        return { error: e.constructor.name, status: e.status, param: e.param ?? null, type: e.type ?? null,
                 message: e.message, retryAfter: e.headers?.get?.("retry-after") ?? null };
      }
    }
  }
  throw new Error("unknown case " + which);
}

run().then((r) => console.log(JSON.stringify(r))).catch((e) => {
  console.log(JSON.stringify({ sdkFailure: String(e), name: e.constructor?.name, status: e.status ?? null }));
});
