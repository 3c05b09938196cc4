// The official SDKs' own tool loops against ksid's facade (client tools, issue 17): openai's
// chat.completions.runTools and @anthropic-ai/sdk's beta.messages.toolRunner, each running a local
// get_weather tool for the model until it answers in text.
// Usage: node tool_loop_client.mjs <openai|anthropic> <baseURL> <apiKey> <JSON {prompt, stream, body}>
// Prints one JSON line: {final (the answer's text), calls (the tool calls the SDK ran, in order),
// requests (how many requests the loop made), lastFinish}.
import { createRequire } from "module";
import path from "path";
import { fileURLToPath } from "url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const modules = path.join(here, "..", "..", "build", "tools", "node_modules");

const [, , which, baseURL, apiKey = "no-key-needed", extraText = "{}"] = process.argv;
const extra = JSON.parse(extraText);
const calls = [];
const schema = {
  type: "object", properties: { city: { type: "string", description: "a city" } }, required: ["city"],
};
function getWeather({ city }) {
  calls.push(city);
  return `sunny in ${city}`;
}

async function openai() {
  const OpenAI = require(path.join(modules, "openai"));
  const client = new OpenAI.default({ baseURL, apiKey, maxRetries: 0, timeout: 90000 });
  const runner = client.chat.completions.runTools({
    model: "sonnet", stream: !!extra.stream,
    messages: [{ role: "user", content: extra.prompt }],
    tools: [{
      type: "function",
      function: { name: "get_weather", description: "The weather of a city", parameters: schema,
                  function: getWeather, parse: JSON.parse },
    }],
    ...(extra.body ?? {}),
  });
  const final = await runner.finalContent();
  const completions = runner.allChatCompletions();
  return { final, calls, requests: completions.length,
           lastFinish: completions[completions.length - 1].choices[0].finish_reason,
           toolCallIds: completions.flatMap((c) => (c.choices[0].message.tool_calls ?? []).map((t) => t.id)) };
}

async function anthropic() {
  const { default: Anthropic } = await import(path.join(modules, "@anthropic-ai", "sdk", "index.mjs"));
  const { betaTool } = await import(path.join(modules, "@anthropic-ai", "sdk", "helpers", "beta", "json-schema.mjs"));
  const client = new Anthropic({ baseURL, apiKey, maxRetries: 0, timeout: 90000 });
  const runner = client.beta.messages.toolRunner({
    model: "sonnet", max_tokens: 1024, stream: !!extra.stream, thread: false, max_iterations: 6,
    messages: [{ role: "user", content: extra.prompt }],
    tools: [betaTool({ name: "get_weather", description: "The weather of a city", inputSchema: schema,
                       run: async (input) => getWeather(input) })],
    ...(extra.body ?? {}),
  });
  let requests = 0, lastFinish = null, final = "";
  const toolCallIds = [];
  for await (const item of runner) {
    const message = extra.stream ? await item.finalMessage() : item;
    requests += 1;
    lastFinish = message.stop_reason;
    for (const b of message.content) if (b.type === "tool_use") toolCallIds.push(b.id);
    final = message.content.filter((b) => b.type === "text").map((b) => b.text).join("");
  }
  return { final, calls, requests, lastFinish, toolCallIds };
}

try {
  const out = which === "openai" ? await openai() : await anthropic();
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ sdkFailure: String(e?.stack ?? e), status: e?.status, calls }));
}
