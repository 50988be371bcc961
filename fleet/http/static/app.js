// The control center page: live over Server-Sent Events from the coordinator, or a replay of
// a trajectory log. Everything the page does goes through the server's HTTP/JSON API, with
// the token entered at the top. `window.fleetView` is a read-only summary for tests.

import { FloorView, STATE_COLOURS } from "./floor.js";

const $ = (id) => document.getElementById(id);
const view = (window.fleetView = {
  mode: "", ready: false, frames: 0, lastFrame: null, floor: null, stats: null,
  events: 0, errors: [], selected: null, hovered: null,
});

const EXAMPLE = {
  mission_id: "", priority: 1,
  tasks: [{ task_id: "move", transport: { pickup_station: "", dropoff_station: "",
                                          load_id: "part-1", mass_kg: 20 } }],
};

function token() { return localStorage.getItem("fleet-token") || ""; }
function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

async function api(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const res = await fetch(path, init);
  const doc = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error((doc.error && doc.error.message) || `HTTP ${res.status}`);
    err.status = res.status; err.field = doc.error ? doc.error.field : ""; err.code = doc.error ? doc.error.code : "";
    throw err;
  }
  return doc;
}

// -- Server-Sent Events over fetch (EventSource cannot send the Authorization header) -------
async function stream(path, onEvent, onState) {
  for (;;) {
    try {
      const res = await fetch(path, { headers: headers() });
      if (!res.ok) {
        const doc = await res.json().catch(() => ({}));
        onState(false, (doc.error && doc.error.message) || `HTTP ${res.status}`);
        await sleep(3000); continue;
      }
      onState(true, "live");
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          let kind = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) kind = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (data) onEvent(kind, JSON.parse(data));
        }
      }
      onState(false, "stream ended; reconnecting");
    } catch (err) {
      onState(false, `no link: ${err.message}`);
    }
    await sleep(2000);
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function setLink(up, text) {
  const link = $("link");
  link.textContent = text; link.className = up ? "link-up" : "link-down";
}

// -- plain words ---------------------------------------------------------------------------
function short(kind) { return (kind || "").replace(/^[A-Z]+(_[A-Z]+)*?_(EVENT|STATE)_/, "").toLowerCase(); }

export function eventWords(e) {
  const kind = short(e.kind), task = e.task_id, m = e.mission_id, r = e.robot_id;
  const why = e.detail ? `: ${e.detail}` : "";
  switch (kind) {
    case "accepted": return `mission ${m} accepted`;
    case "assigned": return `task ${task} of ${m} given to ${r}${why}`;
    case "unassigned": return `task ${task} of ${m} taken back from ${r}${why}`;
    case "started": return `${r} started task ${task} of ${m}`;
    case "step_done": return `${r} did step ${Number(e.step) + 1} of task ${task} (${m})`;
    case "task_done": return `${r} finished task ${task} of ${m}`;
    case "completed": return `mission ${m} completed`;
    case "failed": return `mission ${m} failed${task ? ` at task ${task}` : ""}${why}`;
    case "cancelled": return `mission ${m} cancelled${why}`;
    default: return `${kind} ${m} ${task} ${r}`;
  }
}

// Coordinator time as a person reads it: seconds since the start of a simulation, or the
// time of day when the coordinator runs on the wall clock (Unix seconds).
function when(t) {
  const s = Number(t);
  if (s > 1e9) return new Date(s * 1000).toLocaleTimeString([], { hour12: false });
  return `${s.toFixed(1)} s`;
}

function addEvent(text, t) {
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = t === undefined ? "" : when(t);
  li.append(time, text);
  const list = $("events");
  list.prepend(li);
  while (list.children.length > 300) list.lastChild.remove();
  view.events += 1;
}

// -- the robot panel -----------------------------------------------------------------------
let floorView = null;
let robotsById = new Map();

// Hovering a robot shows its summary beside the pointer.
function showTip(robot, e) {
  const tip = $("robot-tip");
  view.hovered = robot ? robot.id : null;
  if (!robot) { tip.hidden = true; return; }
  const r = robotsById.get(robot.id) || robot;
  const parts = [`${r.id}: ${r.state}${r.hold ? ` (held: ${r.hold})` : ""}`];
  if (r.battery !== undefined) parts.push(`battery ${(100 * r.battery).toFixed(0)} %`);
  if (r.task) parts.push(`task ${r.task}`);
  if (r.load_id) parts.push(`load ${r.load_id}`);
  const fault = (r.faults || []).slice(-1)[0];
  if (fault) parts.push(`last fault: ${fault}`);
  tip.textContent = parts.join(" · ");
  const pane = $("floor-pane").getBoundingClientRect();
  tip.style.left = `${e.clientX - pane.left + 14}px`;
  tip.style.top = `${e.clientY - pane.top + 14}px`;
  tip.hidden = false;
}

function showRobot(id) {
  view.selected = id;
  const box = $("robot-detail");
  const r = id && robotsById.get(id);
  if (!r) { box.replaceChildren("Click a robot on the floor."); return; }
  const rows = [
    ["robot", `${r.id} (${r.kind || "recorded"})`],
    ["state", r.state + (r.hold ? ` — held: ${r.hold}` : "")],
    ["position", `(${r.x.toFixed(2)}, ${r.y.toFixed(2)}) m, ${(r.theta * 180 / Math.PI).toFixed(0)}°`],
  ];
  if (r.battery !== undefined) rows.push(["battery", `${(100 * r.battery).toFixed(0)} %`]);
  if (r.task !== undefined) {
    const [mission, task] = (r.task || "/").split("/");
    rows.push(["mission", mission || "—"], ["task", task || "—"],
              ["queue", (r.queue || []).join(", ") || "—"], ["load", r.load_id || "—"],
              ["last fault", (r.faults || []).slice(-1)[0] || "—"]);
  }
  const dl = document.createElement("dl");
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k; dd.textContent = v; dl.append(dt, dd);
  }
  // The rows change with every frame; the button stays the same element, so a click that
  // spans a frame still lands.
  let action = $("robot-action");
  if (view.mode === "live" && !action) {
    action = button("pause", () => robotAction(view.selected));
    action.id = "robot-action";
  }
  if (action) action.textContent = r.hold ? "resume" : "pause";
  const old = box.querySelector("dl");
  if (old && action && action.parentNode === box) old.replaceWith(dl);
  else box.replaceChildren(...(action ? [dl, action] : [dl]));
}

async function robotAction(id) {
  const r = robotsById.get(id);
  if (!r) return;
  const verb = r.hold ? "resume" : "pause";
  try {
    const info = await api("POST", `/api/v1/robots/${encodeURIComponent(r.id)}/${verb}`,
                           verb === "pause" ? { reason: "paused from the control center" } : {});
    addEvent(`you ${verb}d ${info.robot_id}`);
    r.hold = info.paused_reason;
    showRobot(r.id);
  } catch (err) { addEvent(`refused: ${err.message}`); view.errors.push(err.message); }
}

function button(text, action) {
  const b = document.createElement("button");
  b.textContent = text; b.className = "small"; b.onclick = action;
  return b;
}

// -- missions ------------------------------------------------------------------------------
let missions = [];
let nowS = 0;

function progress(m) {
  let done = 0, total = 0;
  for (const t of m.tasks) { done += t.steps_done; total += t.steps_total; }
  return total ? done / total : 0;
}

function renderMissions() {
  const filter = $("mission-filter").value.trim().toLowerCase();
  const state = $("mission-state").value;
  const body = $("missions").tBodies[0];
  const rows = [];
  for (const m of missions) {
    const s = short(m.state);
    const robots = [...new Set(m.tasks.map((t) => t.robot_id).filter(Boolean))].join(" ");
    const labels = Object.entries(m.labels || {}).map(([k, v]) => `${k}:${v}`).join(" ");
    if (state && s !== state) continue;
    if (filter && !`${m.mission_id} ${robots} ${labels}`.toLowerCase().includes(filter)) continue;
    const end = m.finished_s || nowS;
    const late = m.deadline_s ? end - m.deadline_s : 0;
    const tr = document.createElement("tr");
    tr.dataset.mission = m.mission_id;
    if (late > 0) tr.className = "late";
    const cells = [m.mission_id, s, `${Math.round(100 * progress(m))} %`, robots, m.priority,
                   m.deadline_s ? `${m.deadline_s.toFixed(0)} s` : "—",
                   late > 0 ? `${late.toFixed(0)} s` : ""];
    cells.forEach((v, i) => {
      const td = document.createElement("td"); td.textContent = v;
      if (i === 1) td.className = `state-${s}`;
      if (i === 6) td.className = "late";
      tr.append(td);
    });
    const td = document.createElement("td");
    if (view.mode === "live" && !["completed", "failed", "cancelled"].includes(s)) {
      td.append(button("cancel", async (ev) => {
        ev.stopPropagation();
        try {
          await api("POST", `/api/v1/missions/${encodeURIComponent(m.mission_id)}/cancel`,
                    { reason: "cancelled from the control center" });
          refreshMissions();
        } catch (err) { addEvent(`refused: ${err.message}`); }
      }));
    }
    tr.append(td);
    tr.onclick = () => showMission(m.mission_id);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

const TASK_COLOURS = { pending: "#a0aec0", assigned: "#3d8bd9", active: "#27ae60",
                       done: "#2f855a", failed: "#e74c3c", cancelled: "#718096" };

function showMission(id) {
  const m = missions.find((x) => x.mission_id === id);
  const box = $("mission-detail");
  if (!m) { box.replaceChildren(); return; }
  // The dependency graph: one column per depth, arrows from each task's prerequisites.
  const depth = new Map();
  const byId = new Map(m.tasks.map((t) => [t.spec.task_id, t]));
  const depthOf = (tid, seen = new Set()) => {
    if (depth.has(tid)) return depth.get(tid);
    if (seen.has(tid)) return 0;
    seen.add(tid);
    const deps = (byId.get(tid)?.spec.depends_on) || [];
    const d = deps.length ? 1 + Math.max(...deps.map((x) => depthOf(x, seen))) : 0;
    depth.set(tid, d); return d;
  };
  m.tasks.forEach((t) => depthOf(t.spec.task_id));
  const columns = new Map();
  for (const t of m.tasks) {
    const d = depth.get(t.spec.task_id);
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(t);
  }
  const pos = new Map();
  const w = 150, h = 28;
  let rowsMax = 0;
  for (const [d, list] of columns) {
    list.forEach((t, i) => pos.set(t.spec.task_id, [10 + d * (w + 30), 8 + i * (h + 10)]));
    rowsMax = Math.max(rowsMax, list.length);
  }
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${20 + columns.size * (w + 30)} ${16 + rowsMax * (h + 10)}`);
  for (const t of m.tasks) {
    const [x, y] = pos.get(t.spec.task_id);
    for (const dep of t.spec.depends_on || []) {
      if (!pos.has(dep)) continue;
      const [x0, y0] = pos.get(dep);
      const line = document.createElementNS(ns, "line");
      Object.entries({ x1: x0 + w, y1: y0 + h / 2, x2: x, y2: y + h / 2, stroke: "#556" })
        .forEach(([k, v]) => line.setAttribute(k, v));
      svg.append(line);
    }
    const rect = document.createElementNS(ns, "rect");
    Object.entries({ x, y, width: w, height: h, rx: 4, fill: TASK_COLOURS[short(t.state)] || "#999" })
      .forEach(([k, v]) => rect.setAttribute(k, v));
    const text = document.createElementNS(ns, "text");
    Object.entries({ x: x + 4, y: y + 18, fill: "#fff", "font-size": 11 })
      .forEach(([k, v]) => text.setAttribute(k, v));
    text.textContent = `${t.spec.task_id} ${short(t.state)} ${t.robot_id || ""}`;
    svg.append(rect, text);
  }
  const title = document.createElement("div");
  title.textContent = `${m.mission_id}: ${short(m.state)}${m.reason ? ` (${m.reason})` : ""}`;
  box.replaceChildren(title, svg);
}

async function refreshMissions() {
  try {
    const reply = await api("GET", "/api/v1/missions?page_size=1000");
    missions = reply.missions;
    renderMissions();
  } catch (err) { setLink(false, err.message); }
}

// -- submitting a mission ------------------------------------------------------------------
// The mission as the server read it, one line per field, with the server's error written
// next to the line of the field it names (e.g. mission.tasks[0].transport.pickup_station).
function annotate(doc, field, message) {
  const lines = [];
  const walk = (value, path, indent, key, last) => {
    const lead = " ".repeat(indent) + (key === null ? "" : `${JSON.stringify(key)}: `);
    const comma = last ? "" : ",";
    if (Array.isArray(value)) {
      lines.push({ text: `${lead}[`, path });
      value.forEach((v, i) => walk(v, `${path}[${i}]`, indent + 2, null, i === value.length - 1));
      lines.push({ text: `${" ".repeat(indent)}]${comma}`, path: null });
    } else if (value && typeof value === "object") {
      lines.push({ text: `${lead}{`, path });
      const keys = Object.keys(value);
      keys.forEach((k, i) => walk(value[k], path ? `${path}.${k}` : k, indent + 2, k, i === keys.length - 1));
      lines.push({ text: `${" ".repeat(indent)}}${comma}`, path: null });
    } else {
      lines.push({ text: `${lead}${JSON.stringify(value)}${comma}`, path });
    }
  };
  walk(doc, "mission", 0, null, true);
  // The line of the field named, or of the nearest enclosing field the mission has.
  let target = field;
  const known = new Set(lines.map((l) => l.path).filter(Boolean));
  while (target && !known.has(target)) {
    const cut = Math.max(target.lastIndexOf("."), target.lastIndexOf("["));
    target = cut > 0 ? target.slice(0, cut) : "";
  }
  const pre = $("mission-annotated");
  pre.replaceChildren();
  let placed = false;
  for (const line of lines) {
    const div = document.createElement("div");
    div.textContent = line.text;
    div.dataset.path = line.path || "";
    if (!placed && line.path === (target || "mission")) {
      div.className = "error-line";
      const note = document.createElement("span");
      note.className = "field-error"; note.dataset.field = field; note.textContent = message;
      div.append(note);
      placed = true;
    }
    pre.append(div);
  }
}

async function submitMission() {
  const result = $("submit-result");
  result.className = ""; result.textContent = "";
  $("mission-annotated").replaceChildren();
  const text = $("mission-json").value;
  let doc;
  try { doc = JSON.parse(text); } catch (err) {
    result.className = "error"; result.textContent = `not JSON: ${err.message}`; return;
  }
  try {
    const status = await api("POST", "/api/v1/missions", doc);
    result.textContent = `accepted as ${status.mission_id}`;
    refreshMissions();
  } catch (err) {
    result.className = "error";
    result.textContent = `${err.code || "error"} (HTTP ${err.status})`;
    annotate(doc, err.field || "mission", err.message);
  }
}

// -- live and replay -----------------------------------------------------------------------
function legend() {
  $("legend").replaceChildren(...Object.entries(STATE_COLOURS)
    .filter(([k]) => view.mode === "replay" ? k === "recorded" : k !== "recorded")
    .map(([k, c]) => {
      const span = document.createElement("span"), dot = document.createElement("i");
      dot.style.background = c; span.append(dot, k); return span;
    }));
}

function live() {
  stream("/api/v1/view/stream", (kind, data) => {
    if (kind === "frame") {
      view.frames += 1; view.lastFrame = data; nowS = data.t;
      robotsById = new Map(data.robots.map((r) => [r.id, r]));
      floorView.setRobots(data.robots);
      $("clock").textContent = `t = ${when(data.t)}`;
      if (view.selected) showRobot(view.selected);
      view.stats = floorView.stats;
    } else if (kind === "mission") {
      addEvent(eventWords(data), data.time_s);
    }
  }, setLink);
  refreshMissions();
  setInterval(refreshMissions, 2000);
}

async function replay() {
  const doc = await api("GET", "/api/v1/replay");
  const radius = new Map(doc.header.robots.map((r) => [r.id, r.radius]));
  const frames = doc.frames;
  const slider = $("slider");
  $("replay-bar").hidden = false;
  slider.max = Math.max(0, frames.length - 1);
  view.replay = { frames: frames.length, index: 0, playing: false };
  setLink(true, `replay of ${doc.header.map || "a run"}`);
  const show = (i) => {
    const f = frames[i];
    if (!f) return;
    view.replay.index = i; view.frames += 1;
    const robots = Object.entries(f.poses).map(([id, p]) => ({
      id, state: "recorded", x: p[0], y: p[1], theta: p[2], radius_m: radius.get(id) || 0.4 }));
    robotsById = new Map(robots.map((r) => [r.id, r]));
    view.lastFrame = { t: f.t, robots };
    floorView.setRobots(robots);
    $("replay-time").textContent = `${f.t.toFixed(1)} / ${frames[frames.length - 1].t.toFixed(1)} s`;
    $("clock").textContent = `t = ${when(f.t)}`;
    if (view.selected) showRobot(view.selected);
    view.stats = floorView.stats;
  };
  slider.oninput = () => show(Number(slider.value));
  let timer = null, last = 0;
  $("play").onclick = () => {
    view.replay.playing = !view.replay.playing;
    $("play").textContent = view.replay.playing ? "pause" : "play";
    if (!view.replay.playing) { clearInterval(timer); return; }
    last = performance.now();
    timer = setInterval(() => {
      const now = performance.now(), speed = Number($("speed").value);
      const target = frames[Number(slider.value)].t + speed * (now - last) / 1000;
      last = now;
      let i = Number(slider.value);
      while (i + 1 < frames.length && frames[i + 1].t <= target) i += 1;
      if (i + 1 >= frames.length) { $("play").click(); }
      slider.value = i; show(i);
    }, 100);
  };
  show(0);
}

async function main() {
  $("token").value = token();
  $("token-save").onclick = () => { localStorage.setItem("fleet-token", $("token").value.trim()); location.reload(); };
  const mode = await (await fetch("/api/v1/mode")).json();
  view.mode = mode.mode;
  let floor;
  try { floor = await api("GET", "/api/v1/floor"); } catch (err) {
    setLink(false, `floor: ${err.message}${err.status === 401 ? " — enter a token" : ""}`);
    return;
  }
  view.floor = { name: floor.name, stations: floor.stations.length,
                 obstacles: floor.obstacles.length, zones: (floor.zones || []).length };
  $("floor-name").textContent = floor.name;
  floorView = new FloorView($("floor"), floor);
  floorView.onSelect = showRobot;
  floorView.onHover = showTip;
  floorView.draw();
  // Select a robot as a click on it would (for scripts taking pictures).
  view.select = (id) => { floorView.selected = id; showRobot(id); floorView.draw(); };
  // Where a robot is drawn, in CSS pixels from the canvas's top left (for tests).
  view.screenOf = (id) => {
    const r = robotsById.get(id);
    if (!r) return null;
    const [px, py] = floorView.toScreen(r.x, r.y);
    return [px / floorView.dpr, py / floorView.dpr];
  };
  legend();
  const pickup = floor.stations.find((s) => s.kind === "pickup");
  const drop = floor.stations.find((s) => s.kind === "dropoff");
  EXAMPLE.tasks[0].transport.pickup_station = pickup ? pickup.id : "";
  EXAMPLE.tasks[0].transport.dropoff_station = drop ? drop.id : "";
  $("mission-json").value = JSON.stringify(EXAMPLE, null, 2);
  $("submit").onclick = submitMission;
  $("mission-filter").oninput = renderMissions;
  $("mission-state").onchange = renderMissions;
  if (view.mode === "replay") {
    $("submit-panel").hidden = true; $("mission-panel").hidden = true;
    $("event-panel").hidden = true;
    await replay();
  } else {
    live();
  }
  view.ready = true;
}

main().catch((err) => { view.errors.push(String(err)); setLink(false, String(err)); });
