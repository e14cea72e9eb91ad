// The tickercast page: plain JavaScript on the service's own JSON API, charts by uPlot.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "tickercast.apiKey";
const DAY = 86400; // seconds
const BLUE = "#1f5fbf";
const BACKTEST_WINDOWS_SHOWN = 90; // trading days shown at first; drag to zoom, double-click for all

const state = {
  ticker: null,
  prices: null,
  forecast: null,
  versions: [],
  backtest: null,
  days: 182, // trading history shown before the forecast, calendar days (0: all)
  charts: {},
  events: null, // the EventSource of the job being followed
  lossData: [[], [], []],
  lossMember: null,
  freshVersion: null,
};

// ---------- talking to the API ----------

class ApiError extends Error {
  constructor(status, statusText, detail) {
    super(`${status} ${statusText}: ${detail}`);
    this.status = status;
    this.statusText = statusText;
    this.detail = detail;
  }
}

function apiKey() {
  return localStorage.getItem(KEY_STORE) || "";
}

// The error's words, whatever shape the body has: {"detail": "..."}, FastAPI's list of
// validation errors, or {"error": {"message": ...}}.
function describe(body) {
  if (body === null || body === undefined || body === "") return "";
  if (typeof body === "string") return body;
  const d = body.detail ?? body.error ?? body.message ?? body;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) {
    return d
      .map((e) => {
        const where = Array.isArray(e.loc) ? e.loc.filter((p) => p !== "body").join(".") : "";
        return (where ? `${where}: ` : "") + (e.msg || JSON.stringify(e));
      })
      .join("\n");
  }
  if (d && typeof d === "object") return d.message || d.detail || JSON.stringify(d);
  return String(d);
}

async function api(path, { method = "GET", json, body, contentType, admin = false } = {}) {
  const headers = { Accept: "application/json" };
  // Writes carry the key (harmless while the service asks for none); so do admin reads.
  if ((method !== "GET" || admin) && apiKey()) headers["X-API-Key"] = apiKey();
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  const resp = await fetch(path, { method, headers, body: payload });
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!resp.ok) throw new ApiError(resp.status, resp.statusText || "", describe(data));
  return data;
}

function errorText(err) {
  if (err instanceof ApiError) {
    let text = `The service answered ${err.status} ${err.statusText}: ${err.detail}`;
    if (err.status === 401 || err.status === 403) {
      text +=
        "\nThis needs an API key the service accepts: enter it in the “API key” field at " +
        "the top (it stays in this browser and is sent as X-API-Key).";
    }
    return text;
  }
  return `Could not reach the service: ${err && err.message ? err.message : err}`;
}

function show(el, text) {
  el.textContent = text || "";
  el.hidden = !text;
}

const enc = encodeURIComponent;

// ---------- formatting ----------

function num(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function pct(v, digits = 1) {
  if (v === null || v === undefined) return "–";
  const s = (v * 100).toFixed(digits);
  return `${v > 0 ? "+" : ""}${s}%`;
}

function skillCell(v) {
  const td = document.createElement("td");
  td.textContent = pct(v, 2);
  if (v !== null && v !== undefined) td.className = v > 0 ? "pos" : "neg";
  return td;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function day(iso) {
  return iso ? String(iso).slice(0, 10) : "–";
}

function ts(isoDate) {
  return Date.parse(`${isoDate}T00:00:00Z`) / 1000;
}

function chartWidth(el) {
  return Math.max(320, el.clientWidth || el.parentElement.clientWidth - 32);
}

const utc = (t) => uPlot.tzDate(new Date(t * 1e3), "Etc/UTC");

function makeChart(key, el, opts, data) {
  if (state.charts[key]) state.charts[key].destroy();
  el.textContent = "";
  const chart = new uPlot({ width: chartWidth(el), tzDate: utc, ...opts }, data, el);
  state.charts[key] = chart;
  return chart;
}

// ---------- tickers ----------

async function loadTickers() {
  const tickers = await api("/tickers?limit=1000");
  const list = $("ticker-list");
  list.textContent = "";
  for (const t of tickers) {
    const option = document.createElement("option");
    option.value = t.ticker;
    option.label = `${t.ticker} · ${t.bars} bars, ${t.first} to ${t.last}`;
    list.appendChild(option);
  }
  return tickers;
}

async function initialTicker(tickers) {
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash) return fromHash.toUpperCase();
  try {
    const models = await api("/models");
    if (models.length) return models[0].ticker;
  } catch {
    // no models yet: fall through to the first stored ticker
  }
  return tickers.length ? tickers[0].ticker : null;
}

async function selectTicker(ticker) {
  ticker = ticker.trim().toUpperCase();
  if (!ticker) return;
  state.ticker = ticker;
  if (decodeURIComponent(location.hash.slice(1)) !== ticker) history.replaceState(null, "", `#${enc(ticker)}`);
  $("ticker-input").value = ticker;
  for (const id of ["forecast-ticker", "versions-ticker", "jobs-ticker"]) $(id).textContent = ticker;
  $("train-ticker").value = ticker;
  $("import-ticker").value = ticker;
  show($("page-error"), "");
  await Promise.all([loadPricesAndForecast(), loadVersions(), loadJobs()]);
}

// ---------- prices and forecast ----------

async function loadPricesAndForecast() {
  const ticker = state.ticker;
  state.prices = null;
  state.forecast = null;
  show($("forecast-warning"), "");
  $("forecast-summary").textContent = "";
  try {
    state.prices = await api(`/prices/${enc(ticker)}`);
  } catch (err) {
    show($("page-error"), errorText(err));
    clearChart("price", $("price-chart"));
    $("forecast-table").hidden = true;
    clearBacktest("");
    return;
  }
  try {
    state.forecast = await api(`/forecast/${enc(ticker)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      $("forecast-summary").textContent = `No model for ${ticker} yet: train one below.`;
    } else {
      show($("forecast-warning"), errorText(err));
    }
  }
  renderForecast();
  drawPriceChart();
  await loadBacktest();
}

function clearChart(key, el) {
  if (state.charts[key]) state.charts[key].destroy();
  delete state.charts[key];
  el.textContent = "";
}

function renderForecast() {
  const fc = state.forecast;
  const tbody = $("forecast-table").querySelector("tbody");
  tbody.textContent = "";
  if (!fc) {
    $("forecast-table").hidden = true;
    return;
  }
  // Lets a reader (and the browser test) tell which version's forecast is on screen.
  $("forecast-table").dataset.version = String(fc.model_version);
  const acc = fc.accuracy || {};
  const summary = $("forecast-summary");
  summary.textContent = "";
  // A baseline is a formula, not a network: say so where the version is named.
  const what = fc.baseline
    ? `${fc.model_type} baseline`
    : `${fc.model_type}${acc.serves === "blend" ? " blended with drift" : ""}, ${fc.target}`;
  const items = [
    ["version", `${fc.model_version} (${what})`],
    ["trained", day(fc.trained_at)],
    ["data as of", fc.data_as_of],
    ["last close", num(fc.last_close)],
    ["skill vs naive", pct(acc.skill_vs_naive, 2)],
    ["skill vs drift", pct(acc.skill_vs_drift, 2)],
    ["80% coverage", acc.coverage_80 === null ? "–" : `${(acc.coverage_80 * 100).toFixed(1)}%`],
  ];
  for (const [label, value] of items) {
    const span = document.createElement("span");
    span.innerHTML = `${label}: <b></b>`;
    span.querySelector("b").textContent = value;
    summary.appendChild(span);
  }
  const badge = document.createElement("span");
  badge.className = `badge ${fc.champion ? "champion" : "not-champion"}`;
  badge.textContent = fc.champion ? "champion" : "not champion";
  summary.appendChild(badge);
  if (fc.baseline) {
    const formula = document.createElement("span");
    formula.className = "badge baseline";
    formula.textContent = "baseline";
    summary.appendChild(formula);
  }
  show($("forecast-warning"), fc.warning || "");

  for (const p of fc.points) {
    const byLevel = Object.fromEntries(p.intervals.map((i) => [i.level, i]));
    const tr = document.createElement("tr");
    tr.dataset.date = p.date;
    tr.dataset.value = String(p.value);
    tr.appendChild(cell(p.date));
    tr.appendChild(cell(num(p.value)));
    for (const level of [80, 95]) {
      const i = byLevel[level];
      tr.appendChild(cell(i ? `${num(i.lower)} – ${num(i.upper)}` : "–"));
    }
    tbody.appendChild(tr);
  }
  $("forecast-table").hidden = false;
}

function drawPriceChart() {
  const el = $("price-chart");
  const prices = state.prices;
  if (!prices || !prices.bars.length) {
    clearChart("price", el);
    return;
  }
  const bars = prices.bars;
  const fc = state.forecast;
  const points = fc ? fc.points : [];
  const n = bars.length;
  const m = points.length;
  const x = bars.map((b) => ts(b.date)).concat(points.map((p) => ts(p.date)));
  const none = (k) => new Array(k).fill(null);
  const close = bars.map((b) => b.close).concat(none(m));
  const series = [x, close];
  const level = (lv, side) =>
    points.map((p) => {
      const i = p.intervals.find((iv) => iv.level === lv);
      return i ? i[side] : null;
    });
  if (fc) {
    // Every forecast line starts at the last close, so the fan opens from the last bar.
    let origin = bars.findIndex((b) => b.date === fc.data_as_of);
    if (origin < 0) origin = n - 1;
    const path = (values) => {
      const s = none(n).concat(values);
      s[origin] = fc.last_close;
      return s;
    };
    series.push(
      path(points.map((p) => p.value)),
      path(level(95, "lower")),
      path(level(95, "upper")),
      path(level(80, "lower")),
      path(level(80, "upper")),
    );
  }
  const bandLine = { stroke: "rgba(31,95,191,0.35)", width: 1 };
  const opts = {
    height: 380,
    scales: { x: { time: true } },
    series: [
      { label: "date", value: (u, v) => (v === null ? "–" : utc(v).toISOString().slice(0, 10)) },
      { label: `${prices.ticker} close`, stroke: "#1d2330", width: 1.25, value: (u, v) => num(v) },
    ],
    axes: [{}, { size: 70, values: (u, vals) => vals.map((v) => num(v, 0)) }],
  };
  if (fc) {
    opts.series.push(
      { label: `forecast v${fc.model_version}`, stroke: BLUE, width: 2, value: (u, v) => num(v) },
      { label: "95% low", ...bandLine, value: (u, v) => num(v) },
      { label: "95% high", ...bandLine, value: (u, v) => num(v) },
      { label: "80% low", ...bandLine, value: (u, v) => num(v) },
      { label: "80% high", ...bandLine, value: (u, v) => num(v) },
    );
    opts.bands = [
      { series: [4, 3], fill: "rgba(31,95,191,0.12)" },
      { series: [6, 5], fill: "rgba(31,95,191,0.28)" },
    ];
  }
  const chart = makeChart("price", el, opts, series);
  applyRange(chart, x);
}

function applyRange(chart, x) {
  if (!chart || !x.length) return;
  const last = x[x.length - 1];
  const min = state.days ? Math.max(x[0], last - state.days * DAY) : x[0];
  chart.setScale("x", { min, max: last + 2 * DAY });
}

// ---------- backtest ----------

function clearBacktest(message) {
  state.backtest = null;
  clearChart("backtest", $("backtest-chart"));
  $("skill-table").hidden = true;
  $("backtest-version").textContent = "";
  $("backtest-step").textContent = "";
  const verdict = $("backtest-verdict");
  verdict.className = "verdict";
  show(verdict, message);
}

async function loadBacktest() {
  const fc = state.forecast;
  if (!fc) {
    clearBacktest(state.prices ? `No model for ${state.ticker} yet, so no backtest.` : "");
    return;
  }
  try {
    state.backtest = await api(`/models/${enc(fc.ticker)}/versions/${fc.model_version}/backtest`);
  } catch (err) {
    clearBacktest(errorText(err));
    return;
  }
  const bt = state.backtest;
  $("backtest-version").textContent = `version ${bt.version}, ${bt.metrics.n_windows} windows`;
  const select = $("backtest-step");
  select.textContent = "";
  const horizon = bt.windows.length ? bt.windows[0].dates.length : 0;
  for (let s = 1; s <= horizon; s++) {
    const o = document.createElement("option");
    o.value = String(s);
    o.textContent = `${s} day${s > 1 ? "s" : ""} ahead`;
    select.appendChild(o);
  }
  renderVerdict(bt.metrics);
  renderSkillTable(bt.metrics);
  drawBacktestChart(1);
}

function renderVerdict(metrics) {
  const verdict = $("backtest-verdict");
  const skill = metrics.skill_vs_naive_overall;
  const drift = metrics.skill_vs_drift_overall;
  let text;
  if (skill === null || skill === undefined) {
    verdict.className = "verdict";
    text = "This version has no skill figure against the naive forecast.";
  } else if (skill <= 0) {
    verdict.className = "verdict bad";
    text =
      `This model does not beat the naive forecast: on ${metrics.n_windows} held-out windows ` +
      `its error is ${pct(-skill, 2).replace("+", "")} larger than simply repeating the last ` +
      `close (skill ${pct(skill, 2)}). Treat its forecast as no better than the last price.`;
  } else {
    verdict.className = "verdict good";
    text =
      `This model beats the naive forecast on ${metrics.n_windows} held-out windows: ` +
      `skill ${pct(skill, 2)} against naive and ${pct(drift, 2)} against drift.`;
  }
  show(verdict, text);
}

function renderSkillTable(metrics) {
  const tbody = $("skill-table").querySelector("tbody");
  tbody.textContent = "";
  const cov = (metrics.coverage || {})["80"];
  const steps = (metrics.model && metrics.model.mae) || [];
  steps.forEach((mae, i) => {
    const tr = document.createElement("tr");
    tr.appendChild(cell(String(i + 1)));
    tr.appendChild(cell(num(mae)));
    tr.appendChild(cell(num(metrics.naive.mae[i])));
    tr.appendChild(cell(num(metrics.drift.mae[i])));
    tr.appendChild(skillCell(metrics.skill_vs_naive[i]));
    tr.appendChild(skillCell(metrics.skill_vs_drift[i]));
    tr.appendChild(cell(cov ? `${(cov.per_step[i] * 100).toFixed(1)}%` : "–"));
    tbody.appendChild(tr);
  });
  $("skill-table").hidden = steps.length === 0;
}

function drawBacktestChart(step) {
  const bt = state.backtest;
  if (!bt) return;
  const k = step - 1;
  const w = bt.windows;
  const data = [
    w.map((win) => ts(win.dates[k])),
    w.map((win) => win.actual[k]),
    w.map((win) => win.model[k]),
    w.map((win) => win.naive[k]),
    w.map((win) => win.drift[k]),
  ];
  const v = (u, val) => num(val);
  const chart = makeChart("backtest", $("backtest-chart"), {
    height: 300,
    scales: { x: { time: true } },
    series: [
      { label: "date", value: (u, t) => (t === null ? "–" : utc(t).toISOString().slice(0, 10)) },
      { label: "actual", stroke: "#1d2330", width: 1.5, value: v },
      { label: `model v${bt.version}`, stroke: BLUE, width: 1.25, value: v },
      { label: "naive", stroke: "#d9822b", width: 1, value: v },
      { label: "drift", stroke: "#8a94a6", width: 1, dash: [4, 3], value: v },
    ],
    axes: [{}, { size: 70, values: (u, vals) => vals.map((x) => num(x, 0)) }],
  }, data);
  // Years of windows draw four lines on top of each other: open on the latest ones.
  const x = data[0];
  if (x.length > BACKTEST_WINDOWS_SHOWN) {
    chart.setScale("x", { min: x[x.length - BACKTEST_WINDOWS_SHOWN], max: x[x.length - 1] });
  }
}

// ---------- versions ----------

async function loadVersions() {
  const ticker = state.ticker;
  const tbody = $("versions-table").querySelector("tbody");
  show($("champion-error"), "");
  try {
    const body = await api(`/models/${enc(ticker)}`);
    state.versions = body.versions;
  } catch (err) {
    state.versions = [];
    tbody.textContent = "";
    $("versions-table").hidden = true;
    $("versions-message").textContent =
      err instanceof ApiError && err.status === 404 ? `No versions of ${ticker} yet.` : errorText(err);
    return;
  }
  $("versions-message").textContent =
    "Skill is 1 − MAE(model) / MAE(baseline) on the version's held-out backtest; " +
    "the champion alias picks the version that forecasts serve.";
  tbody.textContent = "";
  for (const v of state.versions) {
    const isChampion = v.aliases.includes("champion");
    const tr = document.createElement("tr");
    tr.dataset.version = String(v.version);
    if (isChampion) tr.classList.add("champion");
    if (state.freshVersion === v.version) tr.classList.add("fresh");
    tr.appendChild(cell(String(v.version)));
    const kind = v.baseline ? "baseline" : v.target;
    tr.appendChild(cell(`${v.model_type} (${kind})`));
    tr.appendChild(cell(`${day(v.created_at)} ${String(v.created_at).slice(11, 16)}`));
    tr.appendChild(cell(`${v.data_start} – ${v.data_end}`));
    const acc = v.accuracy;
    tr.appendChild(skillCell(acc.skill_vs_naive));
    tr.appendChild(skillCell(acc.skill_vs_drift));
    tr.appendChild(cell(acc.coverage_80 === null ? "–" : `${(acc.coverage_80 * 100).toFixed(1)}%`));
    const aliases = cell("");
    for (const a of v.aliases) {
      const b = document.createElement("span");
      b.className = a === "champion" ? "badge champion" : "badge";
      b.textContent = a === "champion" ? "★ champion" : a;
      aliases.appendChild(b);
    }
    tr.appendChild(aliases);
    const action = cell("");
    if (!isChampion) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary make-champion";
      button.textContent = "Make champion";
      button.addEventListener("click", () => makeChampion(v));
      action.appendChild(button);
    }
    tr.appendChild(action);
    tbody.appendChild(tr);
  }
  $("versions-table").hidden = state.versions.length === 0;
}

async function makeChampion(v) {
  const skill = v.accuracy.skill_vs_naive;
  if (skill !== null && skill <= 0) {
    const ok = confirm(
      `Version ${v.version} does not beat the naive forecast (skill ${pct(skill, 2)}). ` +
        "Serve it as champion anyway?",
    );
    if (!ok) return;
  }
  try {
    await api(`/models/${enc(v.ticker)}/aliases/champion`, { method: "PUT", json: { version: v.version } });
  } catch (err) {
    show($("champion-error"), errorText(err));
    return;
  }
  await Promise.all([loadVersions(), loadPricesAndForecast()]);
}

// ---------- jobs and training ----------

async function loadJobs() {
  const tbody = $("jobs-table").querySelector("tbody");
  let jobs = [];
  try {
    jobs = await api(`/jobs?ticker=${enc(state.ticker)}&limit=8`);
  } catch (err) {
    tbody.textContent = "";
    return;
  }
  tbody.textContent = "";
  for (const job of jobs) {
    const tr = document.createElement("tr");
    tr.dataset.job = job.id;
    tr.appendChild(cell(`${day(job.created_at)} ${String(job.created_at).slice(11, 19)}`));
    tr.appendChild(cell(job.config.model_type || "–"));
    tr.appendChild(cell(job.status, `status ${job.status}`));
    tr.appendChild(cell(job.model_version === null ? "–" : String(job.model_version)));
    const action = cell("");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = job.status === "queued" || job.status === "running" ? "Watch" : "Show";
    button.addEventListener("click", () => followJob(job.id));
    action.appendChild(button);
    tr.appendChild(action);
    tbody.appendChild(tr);
  }
  const active = jobs.find((j) => j.status === "queued" || j.status === "running");
  if (active && !state.events) followJob(active.id);
}

// The training form's choices and bounds come from the service's own schema.
async function setUpTrainForm() {
  let props = {};
  try {
    const doc = await api("/openapi.json");
    props = resolve(doc, doc.components.schemas.TrainRequest).properties || {};
  } catch {
    props = {};
  }
  const select = $("train-model-type");
  const modelType = props.model_type || {};
  const choices = modelType.enum || ["lstm", "gru", "rnn", "bilstm"];
  select.textContent = "";
  for (const c of choices) {
    const o = document.createElement("option");
    o.value = c;
    o.textContent = c;
    select.appendChild(o);
  }
  select.value = modelType.default || choices[0];
  const fields = { epochs: [20, 1, 1000], lookback: [60, 5, 500], horizon: [5, 1, 60] };
  for (const [name, [fallback, min, max]] of Object.entries(fields)) {
    const p = props[name] || {};
    const input = $(`train-${name}`);
    input.min = p.minimum ?? min;
    input.max = p.maximum ?? max;
    // A short first run: 20 epochs rather than the API's default of 50.
    input.value = name === "epochs" ? Math.min(fallback, p.maximum ?? fallback) : p.default ?? fallback;
  }
}

// Follow $ref and anyOf/allOf wrappers to the schema with the properties or enum.
function resolve(doc, schema) {
  let s = schema || {};
  for (let i = 0; i < 5; i++) {
    if (s.$ref) {
      s = s.$ref.split("/").slice(1).reduce((o, k) => o[k], doc);
    } else if (s.allOf && s.allOf.length === 1) {
      s = { ...s.allOf[0], default: s.default };
    } else break;
  }
  if (s.properties) {
    const props = {};
    for (const [k, v] of Object.entries(s.properties)) {
      const r = resolve(doc, v);
      props[k] = { ...r, default: v.default ?? r.default };
    }
    return { ...s, properties: props };
  }
  return s;
}

function trainRequest() {
  const body = {
    ticker: $("train-ticker").value.trim(),
    model_type: $("train-model-type").value,
    epochs: Number($("train-epochs").value),
    lookback: Number($("train-lookback").value),
    horizon: Number($("train-horizon").value),
  };
  const layers = $("train-layers").value.trim();
  if (layers) {
    const units = layers.split(/[\s,]+/).filter(Boolean).map(Number);
    if (units.some((u) => !Number.isInteger(u) || u < 1)) {
      throw new Error(`layers must be whole numbers of units separated by commas, e.g. 64,32 (got "${layers}")`);
    }
    body.layers = units;
  }
  return body;
}

async function startTraining(event) {
  event.preventDefault();
  const error = $("train-error");
  show(error, "");
  let body;
  try {
    body = trainRequest();
  } catch (err) {
    show(error, err.message);
    return;
  }
  const button = $("train-submit");
  button.disabled = true;
  try {
    const job = await api("/train", { method: "POST", json: body });
    followJob(job.id);
    loadJobs();
  } catch (err) {
    show(error, errorText(err));
  } finally {
    button.disabled = false;
  }
}

function resetJobPanel(jobId) {
  $("job-panel").hidden = false;
  $("job-id").textContent = `job ${jobId}`;
  for (const id of ["job-stage", "job-epoch", "job-losses", "job-message", "job-decision", "job-version"]) {
    $(id).textContent = "";
  }
  delete $("job-version").dataset.version;
  show($("job-error"), "");
  $("job-progress").max = 1;
  $("job-progress").value = 0;
  state.lossData = [[], [], []];
  state.lossMember = null;
  clearChart("loss", $("loss-chart"));
}

function setStatus(status) {
  const el = $("job-status");
  el.textContent = status;
  el.className = `status ${status}`;
}

function followJob(jobId) {
  if (state.events) state.events.close();
  resetJobPanel(jobId);
  setStatus("connecting");
  const es = new EventSource(`/jobs/${enc(jobId)}/events`);
  state.events = es;
  es.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    setStatus(s.status);
    $("job-id").textContent = `job ${s.id} · ${s.ticker}${s.attempts > 1 ? ` · attempt ${s.attempts}` : ""}`;
    $("job-message").textContent = s.message || "";
    show($("job-error"), s.error || "");
  });
  es.addEventListener("progress", (e) => onProgress(JSON.parse(e.data)));
  es.addEventListener("version", (e) => onVersion(JSON.parse(e.data)));
  es.addEventListener("end", (e) => {
    es.close();
    state.events = null;
    const end = JSON.parse(e.data);
    setStatus(end.status || "gone");
    if (end.message) $("job-message").textContent = end.message;
    show($("job-error"), end.error || "");
    loadJobs();
  });
  es.onerror = () => {
    if (state.events === es && es.readyState === EventSource.CONNECTING) {
      $("job-stage").textContent = "connection lost; reconnecting…";
    }
  };
}

function onProgress(p) {
  const parts = [];
  if (p.stage) parts.push(p.stage);
  if (p.members) parts.push(`member ${p.member ?? "?"} of ${p.members}`);
  $("job-stage").textContent = parts.join(" · ");
  if (p.epochs) {
    $("job-progress").max = p.epochs;
    $("job-progress").value = p.epoch || 0;
    $("job-epoch").textContent = `epoch ${p.epoch || 0} of ${p.epochs}`;
  }
  if (p.loss !== undefined) {
    $("job-losses").textContent =
      `loss ${Number(p.loss).toPrecision(4)}` +
      (p.val_loss !== undefined ? ` · val_loss ${Number(p.val_loss).toPrecision(4)}` : "");
  }
  // One curve per ensemble member: a new member starts the chart again.
  if ((p.member ?? null) !== state.lossMember) {
    state.lossMember = p.member ?? null;
    state.lossData = [[], [], []];
  }
  const [xs, loss, val] = state.lossData;
  if (p.epoch && p.loss !== undefined && !xs.includes(p.epoch)) {
    xs.push(p.epoch);
    loss.push(p.loss);
    val.push(p.val_loss ?? null);
    drawLossChart();
  }
}

function drawLossChart() {
  const el = $("loss-chart");
  const fmt = (u, v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(4));
  if (state.charts.loss) {
    state.charts.loss.setData(state.lossData);
    return;
  }
  makeChart("loss", el, {
    width: Math.min(640, chartWidth(el)),
    height: 180,
    scales: { x: { time: false } },
    series: [
      { label: "epoch" },
      { label: "loss", stroke: BLUE, width: 2, value: fmt, points: { show: true } },
      { label: "val_loss", stroke: "#d9822b", width: 2, value: fmt, points: { show: true } },
    ],
    // Whole epochs only on the x axis.
    axes: [{ label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200], values: (u, vals) => vals.map(String) }, { size: 60 }],
  }, state.lossData);
}

async function onVersion(v) {
  const gate = v.decision || (v.promoted ? "promoted to champion" : "not promoted");
  $("job-decision").textContent = `Champion gate: ${gate}.`;
  $("job-version").dataset.version = String(v.version);
  $("job-version").textContent =
    `New version ${v.ticker} v${v.version}: skill vs naive ${pct(v.skill_vs_naive, 2)}, ` +
    `vs drift ${pct(v.skill_vs_drift, 2)}.`;
  state.freshVersion = v.version;
  if (v.ticker === state.ticker) {
    await Promise.all([loadVersions(), loadPricesAndForecast()]);
  } else {
    await selectTicker(v.ticker);
  }
}

// ---------- CSV import ----------

async function importCsv(event) {
  event.preventDefault();
  const out = $("import-result");
  out.textContent = "";
  const ticker = $("import-ticker").value.trim();
  const file = $("import-file").files[0];
  if (!file) return;
  const error = document.createElement("p");
  error.className = "error";
  try {
    const answer = await api(`/prices/${enc(ticker)}`, {
      method: "PUT",
      body: await file.text(),
      contentType: "text/csv",
    });
    const dl = document.createElement("dl");
    const rows = [
      ["ticker", answer.ticker],
      ["rows imported", answer.rows],
      ["first day", answer.first],
      ["last day", answer.last],
      ["bars stored in all", answer.stored_rows],
    ];
    for (const [k, v] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v === null ? "–" : String(v);
      dl.append(dt, dd);
    }
    out.appendChild(dl);
    await loadTickers();
    if (answer.ticker === state.ticker) await loadPricesAndForecast();
  } catch (err) {
    error.textContent = errorText(err);
    out.appendChild(error);
  }
}

// ---------- start ----------

function setUpApiKey() {
  const input = $("api-key");
  const note = () => {
    $("api-key-state").textContent = apiKey() ? "kept in this browser" : "";
  };
  input.value = apiKey();
  note();
  input.addEventListener("change", () => {
    const key = input.value.trim();
    if (key) localStorage.setItem(KEY_STORE, key);
    else localStorage.removeItem(KEY_STORE);
    note();
  });
}

// ---------- webhooks (admin key) ----------

async function loadWebhooks() {
  const body = $("webhooks-table").querySelector("tbody");
  body.replaceChildren();
  let hooks;
  try {
    hooks = await api("/webhooks?limit=50", { admin: true });
  } catch (err) {
    $("webhooks-table").hidden = true;
    show($("webhooks-message"), errorText(err));
    return;
  }
  $("webhooks-table").hidden = hooks.length === 0;
  show($("webhooks-message"), hooks.length ? "" :
    "No webhooks registered: POST /webhooks or `tickercast webhooks add URL --event champion.changed`.");
  for (const hook of hooks) {
    const deliveries = await api(`/webhooks/${enc(hook.id)}/deliveries?limit=5`, { admin: true });
    const recent = deliveries.map((d) => {
      const codes = d.attempts.map((a) => a.status_code ?? "–").join(" ");
      return `${d.event} ${d.status} (${codes || "not tried yet"})`;
    });
    const tr = document.createElement("tr");
    tr.append(
      cell(hook.url),
      cell(hook.events.join(", ")),
      cell(day(hook.created_at)),
      cell(recent.join("\n") || "none yet", "deliveries"),
    );
    body.append(tr);
  }
}

async function main() {
  setUpApiKey();
  $("webhooks-refresh").addEventListener("click", loadWebhooks);
  $("ticker-form").addEventListener("submit", (e) => {
    e.preventDefault();
    selectTicker($("ticker-input").value);
  });
  $("ticker-input").addEventListener("change", () => {
    const value = $("ticker-input").value.trim().toUpperCase();
    if (value && [...$("ticker-list").options].some((o) => o.value === value)) selectTicker(value);
  });
  for (const b of $("range-buttons").querySelectorAll("button")) {
    b.addEventListener("click", () => {
      for (const other of $("range-buttons").querySelectorAll("button")) other.classList.remove("active");
      b.classList.add("active");
      state.days = Number(b.dataset.days);
      const chart = state.charts.price;
      if (chart) applyRange(chart, chart.data[0]);
    });
  }
  $("backtest-step").addEventListener("change", (e) => drawBacktestChart(Number(e.target.value)));
  $("train-form").addEventListener("submit", startTraining);
  $("import-form").addEventListener("submit", importCsv);
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      drawPriceChart();
      if (state.backtest) drawBacktestChart(Number($("backtest-step").value || 1));
    }, 200);
  });
  await setUpTrainForm();
  loadWebhooks();
  try {
    const tickers = await loadTickers();
    const first = await initialTicker(tickers);
    if (first) await selectTicker(first);
    else show($("page-error"), "No stored prices yet: import a CSV below (or `tickercast prices load-sample`).");
  } catch (err) {
    show($("page-error"), errorText(err));
  }
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", main);
