// krbfarm dashboard: live state, events and actions over SSE and fetch.
// Everything untrusted (user names, reasons) goes in through textContent.
"use strict";
const token = document.querySelector('meta[name="krbfarm-token"]').content;
const SVGNS = "http://www.w3.org/2000/svg";
const maxEventRows = 300;

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function td(text, cls) { return el("td", cls ? { class: cls } : {}, text); }
function counts(m) { return Object.entries(m || {}).map(([k, v]) => `${k || "?"} ${v}`).join(", "); }

// topology redraws the hosts' part of the SVG from the state.
function topology(st) {
  const svg = document.getElementById("topology");
  svg.querySelectorAll("[data-host]").forEach(n => n.remove());
  svg.setAttribute("viewBox", `0 0 820 ${Math.max(180, 20 + 80 * st.hosts.length)}`);
  st.hosts.forEach((h, i) => {
    const top = 10 + 80 * i, cls = h.healthy ? "up" : "down";
    svg.appendChild(el("svg:line", { class: "wire " + cls, "data-host": h.name, x1: 480, y1: 45, x2: 600, y2: top + 26 }));
    const g = el("svg:g", { class: "node host " + cls, "data-host": h.name });
    g.appendChild(el("svg:rect", { x: 600, y: top, width: 210, height: 60, rx: 6 }));
    g.appendChild(el("svg:text", { x: 705, y: top + 26 }, h.name));
    g.appendChild(el("svg:text", { class: "small", x: 705, y: top + 46 }, h.healthy ? `up · ${h.addr}` : `DOWN · ${h.why || ""}`.slice(0, 38)));
    const title = el("svg:title", {}, h.healthy ? "healthy" : h.why);
    g.appendChild(title);
    svg.appendChild(g);
  });
}

function hosts(st) {
  const tb = document.querySelector("#hosts tbody");
  tb.replaceChildren();
  for (const h of st.hosts) {
    const tr = el("tr");
    tr.append(td(`${h.name} (pid ${h.pid})`), td(h.healthy ? "up" : "DOWN: " + (h.why || ""), h.healthy ? "good" : "bad"),
      td(counts(h.logons)), td(counts(h.failures) + (h.pool_down ? `, 5021 ×${h.pool_down}` : ""), Object.keys(h.failures || {}).length ? "bad" : ""),
      td(h.last_kerberos_error || "", "bad"),
      td(`${h.identity} · ${h.use_kernel_mode} · ${h.use_app_pool_credentials} → ${h.decrypts_with}`),
      td(h.clock_offset, h.clock_offset === "0s" ? "" : "bad"),
      td((h.keytab || []).map(k => `${k.principal} kvno ${k.kvno} ${k.enctype}`).join("\n")));
    tb.appendChild(tr);
  }
}

function directory(st) {
  const tb = document.querySelector("#directory tbody");
  tb.replaceChildren();
  if (!st.directory) return;
  const dups = st.directory.duplicates || {};
  for (const a of st.directory.accounts) {
    const spns = a.spns || [];
    const tr = el("tr", spns.some(s => dups[s]) ? { class: "dup" } : {});
    const spnCell = td("");
    spns.forEach((s, i) => {
      spnCell.append(el("span", dups[s] ? { class: "bad", title: "duplicate: " + dups[s].join(", ") } : {}, s + (dups[s] ? " (DUPLICATE)" : "")));
      if (i < spns.length - 1) spnCell.append(", ");
    });
    tr.append(td(a.name), td(a.kind), td(String(a.kvno)), td((a.enctypes || []).join(", ")), spnCell);
    tb.appendChild(tr);
  }
}

function addEvent(e) {
  const tb = document.querySelector("#events tbody");
  const tr = el("tr", { class: "e" + e.id });
  const why = [e.status, e.sub_status && e.sub_status !== "0x0" ? e.sub_status : "", e.reason].filter(Boolean).join(" ");
  tr.append(td((e.time || "").slice(11, 23)), td(e.host), td(String(e.id)), td(e.user || ""), td(e.package || ""),
    td(why || e.message || ""), td(e.ip_address || e.remote || ""));
  tb.prepend(tr);
  while (tb.rows.length > maxEventRows) tb.deleteRow(-1);
}

function render(st) { topology(st); hosts(st); directory(st); }

function connect() {
  const es = new EventSource("/api/stream");
  const live = document.getElementById("live");
  es.onopen = () => { live.textContent = "live"; };
  es.onerror = () => { live.textContent = "reconnecting…"; };
  es.addEventListener("state", m => render(JSON.parse(m.data)));
  es.addEventListener("security", m => addEvent(JSON.parse(m.data)));
  es.addEventListener("log", m => {
    const l = JSON.parse(m.data), out = document.getElementById("output");
    out.textContent += l.line + "\n";
    out.scrollTop = out.scrollHeight;
  });
}

async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-Krbfarm-Token": token }, body: JSON.stringify(body) });
  return r.json();
}

function commands(res) {
  const box = document.getElementById("commands");
  box.replaceChildren();
  (res.windows || []).forEach(c => box.append(el("div", { class: "cmd" }, "Windows  " + c)));
  (res.krbfarm || []).forEach(c => box.append(el("div", { class: "cmd" }, "krbfarm  " + c)));
}

async function phase(p) {
  const name = document.getElementById("scenario").value;
  const out = document.getElementById("output");
  out.textContent = `--- ${name}: ${p} ---\n`;
  document.querySelectorAll(".buttons button").forEach(b => b.disabled = true);
  try {
    const res = await post("/api/scenario", { name, phase: p });
    if (res.error) { out.textContent += "error: " + res.error + "\n"; return; }
    out.textContent = `--- ${name}: ${p} ---\n` + res.output + `\n=> ${res.ok ? "OK" : "NOT OK"}${res.cause ? " (cause: " + res.cause + ")" : ""}\n`;
    commands(res);
  } finally {
    document.querySelectorAll(".buttons button").forEach(b => b.disabled = false);
  }
}

async function scenarios() {
  const list = await (await fetch("/api/scenarios")).json();
  const sel = document.getElementById("scenario");
  for (const s of list) sel.append(el("option", { value: s.name }, `${s.name} — ${s.title}`));
  const story = () => { const s = list.find(x => x.name === sel.value); document.getElementById("story").textContent = s ? s.story : ""; };
  sel.addEventListener("change", story);
  story();
}

document.addEventListener("DOMContentLoaded", async () => {
  document.querySelectorAll(".buttons button").forEach(b => b.addEventListener("click", () => phase(b.dataset.phase)));
  document.getElementById("send").addEventListener("click", async () => {
    const res = await post("/api/sample", { n: Number(document.getElementById("n").value), user: document.getElementById("user").value, browser: document.getElementById("browser").checked });
    document.getElementById("sample").textContent = res.error ? "error: " + res.error : `${res.summary}\n\nby hand: ${res.krbfarm}`;
  });
  connect();
  await scenarios();
  const st = await (await fetch("/api/state")).json();
  render(st);
});
