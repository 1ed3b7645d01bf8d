// drgpay serve: the page for coders. Plain JavaScript, no build step; it talks only to the service that served it.
"use strict";

const STATUS = { grouped: "已入组", ambiguous: "歧义组", ungroupable: "未入组", invalid: "数据无效" };
const NUMBER_FIELDS = ["age", "age_days", "birth_weight", "los", "ventilation_hours"];
const CHOICE_FIELDS = ["sex", "discharge_type", "insurance_type", "hospital_level", "discharge_date", "total_cost"];
const $ = (id) => document.getElementById(id);

/** JSON from the service, or an Error carrying the service's own message. */
async function api(path, options) {
  const response = await fetch(path, options);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return body;
}

function grouperQuery() {
  const id = $("grouper").value;
  return id ? `grouper=${encodeURIComponent(id)}` : "";
}

// -- code look-up -------------------------------------------------------------------------------------------------
const nameCache = new Map();

async function searchCodes(kind, query, limit) {
  const params = `kind=${kind}&q=${encodeURIComponent(query)}&limit=${limit}&${grouperQuery()}`;
  return (await api(`/codes?${params}`)).results;
}

/** The name of one code, or "" when the grouper does not know it. */
async function codeName(kind, code) {
  const key = `${$("grouper").value}|${kind}|${code}`;
  if (!nameCache.has(key)) {
    const hits = await searchCodes(kind, code, 1).catch(() => []);
    nameCache.set(key, hits.length && hits[0].code === code ? hits[0].name : "");
  }
  return nameCache.get(key);
}

function splitCodes(text) {
  return text.split(/[|,;，；、｜\s]+/).map((c) => c.trim().toUpperCase()).filter(Boolean);
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function fillList(list, hits) {
  list.replaceChildren(...hits.map((hit) => {
    const option = document.createElement("option");
    option.value = hit.code;
    option.label = hit.name;
    option.textContent = hit.name;
    return option;
  }));
}

function chipCodes(listId) {
  return [...$(listId).querySelectorAll("li")].map((li) => li.dataset.code);
}

function addChips(input) {
  const list = $(input.dataset.chips);
  for (const code of splitCodes(input.value)) {
    if (chipCodes(list.id).includes(code)) continue;
    const li = document.createElement("li");
    li.dataset.code = code;
    const label = document.createElement("code");
    label.textContent = code;
    const name = document.createElement("span");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.title = "删除 remove";
    remove.textContent = "×";
    remove.addEventListener("click", () => li.remove());
    li.append(label, name, remove);
    list.append(li);
    codeName(input.dataset.kind, code).then((text) => { name.textContent = text || "（未找到 unknown）"; });
  }
  input.value = "";
}

async function showPrincipalName() {
  const input = $("principal_dx");
  const code = splitCodes(input.value)[0] || "";
  const text = code ? await codeName("dx", code) : "";
  $("principal_dx-name").textContent = code && !text ? "（未找到 unknown code）" : text;
}

function wireCodeInput(input) {
  const list = $(input.getAttribute("list"));
  const suggest = debounce(async () => {
    const query = input.value.trim();
    fillList(list, query ? await searchCodes(input.dataset.kind, query, 20).catch(() => []) : []);
  }, 150);
  input.addEventListener("input", (event) => {
    const picked = !event.inputType || event.inputType === "insertReplacementText";
    if (input.dataset.chips && picked && [...list.options].some((o) => o.value === input.value)) {
      addChips(input);  // a suggestion was chosen
      return;
    }
    suggest();
    if (input.id === "principal_dx") showPrincipalName();
  });
  if (input.dataset.chips) {
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        addChips(input);
      }
    });
  }
}

// -- one record ---------------------------------------------------------------------------------------------------
function record() {
  for (const input of document.querySelectorAll("input[data-chips]")) addChips(input);
  const out = {};
  const principal = splitCodes($("principal_dx").value)[0];
  if (principal) out.principal_dx = principal;
  const secondary = chipCodes("secondary_dx-chips");
  if (secondary.length) out.secondary_dx = secondary.join("|");
  const procedures = chipCodes("procedures-chips");
  if (procedures.length) out.procedures = procedures.join("|");
  for (const name of NUMBER_FIELDS) if ($(name).value !== "") out[name] = Number($(name).value);
  for (const name of CHOICE_FIELDS) if ($(name).value !== "") out[name] = $(name).value;
  return out;
}

function named(code, name) {
  return code ? `${code}${name ? " " + name : ""}` : "—";
}

function listItems(target, items) {
  target.replaceChildren(...items.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
}

function showResult(result) {
  const names = result.names || {};
  const group = result.drg || result.dip_group || "—";
  $("result-mdc").textContent = named(result.mdc, names.mdc);
  $("result-adrg").textContent = named(result.adrg, names.adrg);
  $("result-drg").textContent = group;
  $("result-drg-name").textContent = names.drg || "";
  const status = STATUS[result.status] || result.status;
  $("result-status").textContent = `${status} ${result.status}${result.reason ? " · " + result.reason : ""}`;
  listItems($("steps"), result.steps || []);
  const payment = result.payment;
  const weight = payment ? (payment.weight ?? payment.score) : null;
  $("weight-row").hidden = !payment;
  $("result-weight").textContent = weight ?? "—";
  const paid = payment && payment.result;
  $("standard-row").hidden = !payment;
  $("result-standard").textContent = paid && paid.standard ? paid.standard : (payment && payment.note) || "—";
  $("payment-steps-block").hidden = !(paid && payment.steps.length);
  listItems($("payment-steps"), (payment && payment.steps) || []);
}

async function groupRecord(event) {
  event.preventDefault();
  $("result-error").hidden = true;
  try {
    const body = JSON.stringify(record());
    const result = await api(`/explain?${grouperQuery()}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body,
    });
    showResult(result);
  } catch (error) {
    $("result-error").textContent = error.message;
    $("result-error").hidden = false;
  }
}

function clearAll() {
  for (const id of ["secondary_dx-chips", "procedures-chips", "steps", "payment-steps"]) $(id).replaceChildren();
  $("principal_dx-name").textContent = "";
  showResult({ steps: [], names: {} });
  $("result-status").textContent = "—";
}

// -- a file -------------------------------------------------------------------------------------------------------
async function groupFile() {
  const file = $("file").files[0];
  const status = $("upload-status");
  if (!file) { status.textContent = "请先选择文件 · choose a file first"; return; }
  status.textContent = `分组中 · grouping ${file.name} …`;
  const form = new FormData();
  form.append("file", file);
  try {
    const response = await fetch(`/group?format=csv&${grouperQuery()}`, { method: "POST", body: form });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error(body && body.error ? body.error.message : `HTTP ${response.status}`);
    }
    const data = await response.arrayBuffer();
    // a byte-order mark, so that Excel opens the UTF-8 file with its Chinese text intact
    const blob = new Blob([new Uint8Array([0xef, 0xbb, 0xbf]), data], { type: "text/csv" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${file.name.replace(/\.[^.]*$/, "")}-grouped.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    status.textContent = `已完成 · done: ${link.download}`;
  } catch (error) {
    status.textContent = `错误 · error: ${error.message}`;
  }
}

// -- start --------------------------------------------------------------------------------------------------------
async function start() {
  document.querySelectorAll("input.code").forEach(wireCodeInput);
  $("record-form").addEventListener("submit", groupRecord);
  $("record-form").addEventListener("reset", clearAll);
  $("upload-button").addEventListener("click", groupFile);
  $("grouper").addEventListener("change", () => nameCache.clear());
  try {
    const info = await api("/groupers");
    const select = $("grouper");
    select.replaceChildren(...info.groupers.map((g) => new Option(`${g.id} (${g.version})`, g.id)));
    select.value = info.default;
    if (info.policy) {
      $("policy-info").textContent = `支付政策 Policy: ${info.policy.name}`;
      $("payment-fields").hidden = false;
    }
    document.body.dataset.ready = "true";
  } catch (error) {
    $("policy-info").textContent = `服务不可用 · service unavailable: ${error.message}`;
  }
}

document.addEventListener("DOMContentLoaded", start);
