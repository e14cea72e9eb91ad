// A dashboard backend's calls to tickercast, typed from the service's own OpenAPI schema:
// import a CSV, train with an Idempotency-Key, follow the job's events to its end, forecast
// one ticker (and revalidate it with its ETag), forecast a batch, and meet a typed 404 and 422.
//
//   TICKERCAST_URL=http://127.0.0.1:8000 TICKERCAST_CSV=../../app/data/GSPC.csv \
//     npm run build && npm run example
//
// Settings (environment): TICKERCAST_URL, TICKERCAST_API_KEY (a write key, when the service
// has keys), TICKERCAST_CSV (the file to import), TICKERCAST_TICKER (default DEMO),
// TICKERCAST_EPOCHS (default 1). Each step prints one line; any surprise exits with code 1.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";

import createClient from "openapi-fetch";

import type { components, paths } from "./src/schema.js";

type ForecastOut = components["schemas"]["ForecastOut"];
type ErrorOut = components["schemas"]["ErrorOut"];
type JobOut = components["schemas"]["JobOut"];
type TrainRequest = components["schemas"]["TrainRequest"];

const baseUrl = process.env.TICKERCAST_URL ?? "http://127.0.0.1:8000";
const apiKey = process.env.TICKERCAST_API_KEY;
const csvPath = process.env.TICKERCAST_CSV ?? "../../app/data/GSPC.csv";
const ticker = process.env.TICKERCAST_TICKER ?? "DEMO";
const epochs = Number(process.env.TICKERCAST_EPOCHS ?? "1");

const client = createClient<paths>({
  baseUrl,
  headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
});

function fail(what: string, detail: unknown): never {
  console.error(`FAILED ${what}: ${JSON.stringify(detail)}`);
  process.exit(1);
}

function say(step: string, facts: Record<string, unknown>): void {
  console.log(`${step} ${JSON.stringify(facts)}`);
}

// 1. Import daily bars from a CSV (the body is the file's text, sent as text/csv).
async function importCsv(): Promise<void> {
  const csv = await readFile(csvPath, "utf8");
  const { data, error } = await client.PUT("/prices/{ticker}", {
    params: { path: { ticker } },
    body: csv,
    headers: { "Content-Type": "text/csv" },
    bodySerializer: (text) => text as string, // sent as it is, not as JSON
  });
  if (error) fail("import", error);
  say("imported", { ticker: data.ticker, stored_rows: data.stored_rows, last: data.last });
}

// 2. Train; the Idempotency-Key makes a retried request (a timeout, a restart) return the
//    same job instead of starting a second one.
async function train(): Promise<JobOut> {
  const key = randomUUID();
  const body: TrainRequest = { ticker, model_type: "gru", lookback: 20, horizon: 5, layers: [8], epochs, ensemble: 1 };
  const first = await client.POST("/train", { body, params: { header: { "idempotency-key": key } } });
  if (first.error) fail("train", first.error);
  const again = await client.POST("/train", { body, params: { header: { "idempotency-key": key } } });
  if (again.error) fail("train again", again.error);
  if (again.data.id !== first.data.id) fail("idempotency", [first.data.id, again.data.id]);
  say("queued", { job: first.data.id, status: first.response.status, repeat_status: again.response.status, same_job: true });
  return first.data;
}

// 3. Follow the job's server-sent events until `end` (no polling).
async function follow(job: JobOut): Promise<number> {
  const { data, error } = await client.GET("/jobs/{job_id}/events", {
    params: { path: { job_id: job.id } },
    parseAs: "stream",
  });
  if (error || !data) fail("events", error);
  const seen: Record<string, number> = {};
  let buffer = "";
  let event = "message";
  let lines: string[] = [];
  const reader = data.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) fail("events", "the stream ended before the job did");
    buffer += value;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (lines.length) {
          seen[event] = (seen[event] ?? 0) + 1;
          if (event === "end") {
            const end = JSON.parse(lines.join("\n")) as { status: string; model_version: number | null };
            await reader.cancel();
            if (end.status !== "succeeded" || end.model_version === null) fail("job", end);
            say("trained", { status: end.status, version: end.model_version, events: seen });
            return end.model_version;
          }
        }
        event = "message";
        lines = [];
      } else if (line.startsWith("event:")) {
        event = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        lines.push(line.slice(5).trimStart());
      }
    }
  }
}

// 4. Forecast one ticker, then ask again with its ETag: unchanged, it is a 304 with no body.
async function forecast(version: number): Promise<ForecastOut> {
  const { data, error, response } = await client.GET("/forecast/{ticker}", {
    params: { path: { ticker }, query: { version, level: [80, 95] } },
  });
  if (error) fail("forecast", error);
  const etag = response.headers.get("etag");
  if (!etag) fail("etag", Object.fromEntries(response.headers));
  const again = await fetch(`${baseUrl}/forecast/${encodeURIComponent(ticker)}?version=${version}&level=80&level=95`, {
    headers: { "If-None-Match": etag, ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
  });
  const bytes = (await again.arrayBuffer()).byteLength;
  if (again.status !== 304 || bytes !== 0) fail("revalidation", { status: again.status, bytes });
  say("forecast", {
    version: data.model_version,
    dates: data.points.map((p) => p.date),
    first: data.points[0]?.value,
    skill_vs_naive: data.accuracy.skill_vs_naive,
    revalidated: again.status,
  });
  return data;
}

// 5. Many tickers in one round trip: each answered in order, a bad one failing only itself.
async function batch(): Promise<void> {
  const { data, error } = await client.POST("/forecasts", { body: { tickers: [ticker, "NOPE"], horizon: 3 } });
  if (error) fail("batch", error);
  const [good, bad] = data.results;
  if (good?.status !== 200 || bad?.status !== 404) fail("batch items", data.results);
  say("batch", { count: data.count, failed: data.failed, statuses: data.results.map((r) => r.status), steps: good.forecast?.points.length });
}

// 6. Errors are typed: a 404 and a 422 both come as ErrorOut, the 422 naming the field.
async function errors(): Promise<void> {
  const missing = await client.GET("/forecast/{ticker}", { params: { path: { ticker: "NOPE" } } });
  const notFound: ErrorOut | undefined = missing.error;
  if (missing.response.status !== 404 || !notFound) fail("404", missing.response.status);
  const invalid = await client.POST("/train", { body: { ticker, epochs: 0 } });
  const refused: ErrorOut | undefined = invalid.error;
  if (invalid.response.status !== 422 || !refused) fail("422", invalid.response.status);
  say("errors", {
    not_found: { status: notFound.status, code: notFound.code, detail: notFound.detail },
    invalid: { status: refused.status, fields: (refused.errors ?? []).map((e) => e.loc.join(".")) },
  });
}

await importCsv();
const job = await train();
const version = await follow(job);
await forecast(version);
await batch();
await errors();
say("done", { ticker });
